"""Every setting of the app, read once from the environment and validated.

Where Faust reads an environment variable of its own (BROKER_URL, WEB_HOST, WEB_PORT,
TOPIC_PARTITIONS, APP_STORE), this module reads the same name, so the value Faust sees
and the value validated here can never disagree. Each registered pipeline adds settings
named after it: `<NAME>_INPUT_TOPIC`, `<NAME>_OUTPUT_TOPIC`, `<NAME>_PROCESSES` when it
scores in processes, and `<NAME>_<OPTION>` for each option it declares.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pipelines import registry
from pipelines.spec import PipelineSpec

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models"
N = TypeVar("N", int, float)
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
GUARANTEES = ("at_least_once", "exactly_once")
FETCH_MAX_PARTITION_BYTES = 1024 * 1024  # per partition per fetch request
FETCH_MAX_BYTES = 2 * 1024 * 1024  # per fetch request, over all of a worker's partitions
FETCH_LINGER_MS = 2  # a fetch after one that brought records waits this long for more
#: What published models are signed with when ARTIFACT_KEY is not set: fine on one
#: machine, but anyone who can write the artifacts topic could then publish a model.
DEVELOPMENT_ARTIFACT_KEY = b"kafka-inference development key: set ARTIFACT_KEY"
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_WORKER_ID = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


class SettingsError(ValueError):
    """One or more settings are invalid; the message lists each with its fix."""


@dataclass(frozen=True)
class PipelineSettings:
    """A registered pipeline with the settings that concern it alone."""

    spec: PipelineSpec[Any]
    input_topic: str
    output_topic: str
    options: Mapping[str, int]
    processes: int | None = None  # for a pipeline that scores in processes

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dlq_topic(self) -> str:
        return f"{self.input_topic}-dlq"


@dataclass(frozen=True)
class Settings:
    """Validated configuration; build it with `Settings.from_env()`."""

    broker_url: str
    broker_wait_s: float
    broker_session_timeout_s: float
    stop_timeout_s: float
    app_id: str
    pipelines: tuple[PipelineSettings, ...]
    topic_partitions: int
    #: None: min(3, brokers in the cluster met at start), see `transport.topics`.
    topic_replication_factor: int | None
    web_host: str
    web_port: int
    table_store: str
    model_dir: Path
    batch_size: int
    fetch_max_partition_bytes: int
    fetch_max_bytes: int
    drift_window: int
    fetch_linger_ms: int = FETCH_LINGER_MS
    processing_guarantee: str = "at_least_once"
    broker_security_protocol: str = "PLAINTEXT"
    broker_ca_file: Path | None = None
    broker_sasl_mechanism: str = "PLAIN"
    broker_sasl_username: str | None = None
    broker_sasl_password: str | None = field(default=None, repr=False)  # never logged
    artifact_key: bytes = field(default=b"", repr=False)  # signs published models; never logged
    #: None: 2 for topics with 3 or more replicas, else the broker's default.
    topic_min_insync_replicas: int | None = None
    worker_id: str | None = None
    web_auth_token: str | None = field(default=None, repr=False)  # never logged

    def pipeline(self, name: str) -> PipelineSettings:
        """The registered pipeline called `name`."""
        for pipeline in self.pipelines:
            if pipeline.name == name:
                return pipeline
        raise KeyError(f"no pipeline {name!r} is registered")

    @property
    def label_counts_topic(self) -> str:
        return f"{self.app_id}-label-counts"

    @property
    def artifacts_topic(self) -> str:
        """The compacted topic published models travel in (`models.artifact_store`)."""
        return f"{self.app_id}-artifacts"

    def group_instance_id(self, web_port: int) -> str:
        """This worker's stable name in its consumer group (`transport.static_membership`).

        WORKER_ID, or host and web port: two workers on one host need two ports anyway,
        and a worker started again with the same command gets the same name.
        """
        return self.worker_id or f"{socket.gethostname()}-{web_port}"

    @property
    def signs_with_development_key(self) -> bool:
        return self.artifact_key == DEVELOPMENT_ARTIFACT_KEY

    @property
    def bootstrap_servers(self) -> str:
        """The broker list without Faust's `kafka://` scheme, for plain Kafka clients."""
        return ",".join(part.removeprefix("kafka://") for part in self.broker_url.split(";"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read `env` (default: os.environ); raise SettingsError listing every problem."""
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            broker_url=reader.broker_url("BROKER_URL", "kafka://127.0.0.1:9092"),
            broker_wait_s=reader.number("BROKER_WAIT_SECONDS", 60.0, low=1.0, high=3600.0),
            broker_session_timeout_s=reader.number("BROKER_SESSION_TIMEOUT_SECONDS", 60.0,
                                                   low=6.0, high=1800.0),
            stop_timeout_s=reader.number("STOP_TIMEOUT_SECONDS", 30.0, low=1.0, high=3600.0),
            app_id=reader.topic_name("APP_ID", "kafka-inference"),
            pipelines=reader.pipelines("PIPELINES", registry.SHIPPED),
            topic_partitions=reader.integer("TOPIC_PARTITIONS", 4, low=1, high=1000),
            topic_replication_factor=reader.optional_integer("TOPIC_REPLICATION_FACTOR",
                                                             low=1, high=10),
            topic_min_insync_replicas=reader.optional_integer("TOPIC_MIN_INSYNC_REPLICAS",
                                                              low=1, high=10),
            web_host=reader.text("WEB_HOST", "127.0.0.1"),
            web_port=reader.integer("WEB_PORT", 6066, low=1, high=65535),
            table_store=reader.store("APP_STORE", "memory://"),
            model_dir=reader.directory("MODEL_DIR", DEFAULT_MODEL_DIR),
            batch_size=reader.integer("BATCH_SIZE", 500, low=1, high=100_000),
            fetch_max_partition_bytes=reader.integer("FETCH_MAX_PARTITION_BYTES",
                                                     FETCH_MAX_PARTITION_BYTES,
                                                     low=64 * 1024, high=64 * 1024 * 1024),
            fetch_max_bytes=reader.integer("FETCH_MAX_BYTES", FETCH_MAX_BYTES,
                                           low=64 * 1024, high=256 * 1024 * 1024),
            fetch_linger_ms=reader.integer("FETCH_LINGER_MS", FETCH_LINGER_MS, low=0, high=100),
            drift_window=reader.integer("DRIFT_WINDOW_EVENTS", 10_000, low=100,
                                        high=10_000_000),
            processing_guarantee=reader.choice("PROCESSING_GUARANTEE", "at_least_once",
                                               GUARANTEES),
            broker_security_protocol=reader.choice(
                "BROKER_SECURITY_PROTOCOL", "PLAINTEXT", SECURITY_PROTOCOLS),
            broker_ca_file=reader.optional_file("BROKER_CA_FILE"),
            broker_sasl_mechanism=reader.choice("BROKER_SASL_MECHANISM", "PLAIN", SASL_MECHANISMS),
            broker_sasl_username=reader.optional_text("BROKER_SASL_USERNAME"),
            broker_sasl_password=reader.optional_text("BROKER_SASL_PASSWORD"),
            artifact_key=(reader.optional_text("ARTIFACT_KEY") or "").encode()
            or DEVELOPMENT_ARTIFACT_KEY,
            worker_id=reader.worker_id("WORKER_ID"),
            web_auth_token=reader.optional_text("WEB_AUTH_TOKEN"),
        )
        if settings.broker_security_protocol.startswith("SASL") and not (
                settings.broker_sasl_username and settings.broker_sasl_password):
            reader.problems.append(f"BROKER_SECURITY_PROTOCOL={settings.broker_security_protocol} "
                                   "needs BROKER_SASL_USERNAME and BROKER_SASL_PASSWORD")
        reader.raise_if_invalid()
        return settings


class _Reader:
    """Collects every invalid value instead of stopping at the first one."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def _raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def optional_text(self, name: str) -> str | None:
        return self._raw(name)

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        """One of `allowed`, in any letter case."""
        value = self.text(name, default)
        for option in allowed:
            if value.lower() == option.lower():
                return option
        self.problems.append(f"{name}={value!r} must be one of {', '.join(allowed)}")
        return value

    def optional_file(self, name: str) -> Path | None:
        raw = self._raw(name)
        if raw is None:
            return None
        path = Path(raw).resolve()
        if not path.is_file():
            self.problems.append(f"{name}={raw!r} is not a readable file")
        return path

    def worker_id(self, name: str) -> str | None:
        value = self._raw(name)
        if value is not None and not _WORKER_ID.match(value):
            self.problems.append(f"{name}={value!r} must be 1-200 letters, digits, '.', '_', '-'")
        return value

    def topic_name(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not _TOPIC_NAME.match(value):
            self.problems.append(
                f"{name}={value!r} is not a valid Kafka topic name "
                "(letters, digits, '.', '_', '-'; at most 249 characters)"
            )
        return value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        return self._bounded(name, default, int, "a whole number", low, high)

    def optional_integer(self, name: str, *, low: int, high: int) -> int | None:
        return None if self._raw(name) is None else self.integer(name, 0, low=low, high=high)

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        return self._bounded(name, default, float, "a number", low, high)

    def _bounded(self, name: str, default: N, parse: Callable[[str], N], kind: str,
                 low: N, high: N) -> N:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = parse(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} must be {kind} from {low} to {high}")
            return default
        if not low <= value <= high:
            self.problems.append(f"{name}={value} is out of range: use {low} to {high}")
        return value

    def pipelines(self, name: str, default: tuple[str, ...]) -> tuple[PipelineSettings, ...]:
        """The pipelines of the modules `name` lists (comma-separated), each with its settings."""
        raw = self._raw(name)
        modules = [m.strip() for m in raw.split(",") if m.strip()] if raw else list(default)
        try:
            specs = registry.load(modules)
        except registry.RegistryError as exc:
            self.problems.append(f"{name}: {exc}")
            return ()
        if not specs:
            self.problems.append(f"{name} names no pipeline module")
        pipelines = tuple(self._pipeline(spec) for spec in specs)
        inputs = [p.input_topic for p in pipelines]
        for p in pipelines:
            if inputs.count(p.input_topic) > 1:
                self.problems.append(f"{p.spec.env_prefix}_INPUT_TOPIC={p.input_topic!r} is "
                                     "another pipeline's input topic too")
            if p.output_topic in inputs:
                self.problems.append(f"{p.spec.env_prefix}_OUTPUT_TOPIC={p.output_topic!r}: "
                                     "a pipeline's output may not be an input topic")
        return pipelines

    def _pipeline(self, spec: PipelineSpec[Any]) -> PipelineSettings:
        prefix = spec.env_prefix
        return PipelineSettings(
            spec=spec,
            input_topic=self.topic_name(f"{prefix}_INPUT_TOPIC", spec.default_input_topic),
            output_topic=self.topic_name(f"{prefix}_OUTPUT_TOPIC", spec.default_output_topic),
            options={o.name: self.integer(f"{prefix}_{o.suffix}", o.default, low=o.low,
                                          high=o.high) for o in spec.options},
            processes=(self.integer(f"{prefix}_PROCESSES", os.cpu_count() or 1, low=1, high=64)
                       if spec.predict_in == "processes" else None),
        )

    def broker_url(self, name: str, default: str) -> str:
        value = self.text(name, default)
        for part in value.replace(",", ";").split(";"):
            address = part.strip().removeprefix("kafka://")
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                self.problems.append(
                    f"{name}={value!r}: {part!r} is not host:port (e.g. kafka://127.0.0.1:9092)"
                )
        return ";".join(
            p.strip() if p.strip().startswith("kafka://") else f"kafka://{p.strip()}"
            for p in value.replace(",", ";").split(";")
        )

    def store(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not value.startswith(("memory://", "rocksdb://", "aerospike://")):
            self.problems.append(
                f"{name}={value!r} is not a Faust table store (memory:// or rocksdb://)"
            )
        return value

    def directory(self, name: str, default: Path) -> Path:
        raw = self._raw(name)
        path = Path(raw).resolve() if raw else default
        if not path.is_dir():
            self.problems.append(f"{name}={str(path)!r} is not a directory")
        return path

    def raise_if_invalid(self) -> None:
        if self.problems:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            raise SettingsError(f"invalid settings:\n{lines}")
