"""The real broker and a real worker process for the integration tests.

The broker is the local one started by `make test` (this fixture starts it too when
missing); with BROKER_URL set, that cluster is used instead. A broker that cannot be
reached fails the tests: they never skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from pipelines.registry import SHIPPED, load

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
WORKER_START_TIMEOUT_S = 120.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def bootstrap() -> str:
    """host:port of a running broker."""
    if os.environ.get("BROKER_URL"):
        return Settings.from_env().bootstrap_servers
    subprocess.run([sys.executable, str(ROOT / "broker" / "local_kafka.py"), "start"],
                   check=True)
    port = os.environ.get("KAFKA_PORT", "9092")
    return f"127.0.0.1:{port}"


@dataclass
class PrivateBroker:
    """A broker or cluster of a test's own (own data and ports, the shared jars), started,
    stopped and killed node by node with the project's launcher."""

    home: Path
    port: int
    nodes: int
    extra_env: dict[str, str]

    @classmethod
    def create(cls, home: Path, nodes: int = 1, **extra_env: str) -> PrivateBroker:
        return cls(home=home, port=free_ports(2 * nodes), nodes=nodes, extra_env=extra_env)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.port + i}" for i in range(self.nodes))

    def _run(self, *args: str) -> str:
        env = {**os.environ, "KAFKA_HOME": str(self.home), "KAFKA_PORT": str(self.port),
               "KAFKA_NODES": str(self.nodes),
               "KAFKA_LIB": os.environ.get("KAFKA_LIB", str(ROOT / ".kafka" / "lib")),
               **self.extra_env}
        done = subprocess.run([sys.executable, str(ROOT / "broker" / "local_kafka.py"), *args],
                              env=env, capture_output=True, text=True)
        # status exits 1 while a node is down, and says which.
        assert done.returncode == 0 or args[0] == "status", done.stdout + done.stderr
        return done.stdout

    def start(self, node: int | None = None) -> None:
        self._run("start", *(["--node", str(node)] if node else []))

    def stop(self, node: int | None = None) -> None:
        self._run("stop", *(["--node", str(node)] if node else []))

    def kill(self, node: int) -> None:
        """kill -9 one node."""
        os.kill(int((self.home / f"node-{node}" / "broker.pid").read_text()), signal.SIGKILL)

    def active_controller(self) -> int:
        """The node leading the KRaft quorum, as the launcher's status reports it."""
        out = self._run("status")
        found = re.search(r"active controller: node (\d+)", out)
        assert found, out
        return int(found.group(1))


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    broker = PrivateBroker.create(tmp_path / "kafka")
    broker.start()
    yield broker
    broker.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(count: int) -> int:
    """The first of `count` consecutive ports that are free now, below the ephemeral range.

    A client retrying a connection to a stopped broker's port picks an ephemeral local
    port each time; if the broker's port is in that range, one try can connect the
    socket to itself (TCP simultaneous open) and hold the port the broker restarts on.
    """
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(100):
        first = random.randrange(10_000, ephemeral_low - count)
        try:
            with contextlib.ExitStack() as held:
                for port in range(first, first + count):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise AssertionError(f"no {count} consecutive free ports found")


def web_get(port: int, path: str, timeout: float = 5) -> str:
    """A page served on localhost:`port`, decoded."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
        body: bytes = reply.read()
        return body.decode()


@dataclass
class Worker:
    """A `faust -A app worker` process with its own app id, topics and web port."""

    name: str
    env: dict[str, str]
    web_port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "faust"), "-A", "app", "worker", "-l", "info"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n"
                                     f"{self.log_tail()}")
            if self.stats_or_none() is not None:
                return
            time.sleep(0.3)
        raise AssertionError(f"worker not serving /stats in {WORKER_START_TIMEOUT_S}s:\n"
                             f"{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`faust -A app <args>` as an operator types it, with this worker's settings."""
        faust = Path(sys.executable).parent / "faust"
        return subprocess.run([str(faust), "-A", "app", *args], cwd=ROOT,
                              env={**self.env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                              text=True, timeout=180)

    def page(self, path: str) -> str:
        """A page of the worker's web view."""
        return web_get(self.web_port, path)

    def stats_or_none(self, timeout: float = 2) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(web_get(self.web_port, "/stats", timeout=timeout))
            return data
        except OSError:
            return None

    def stats(self) -> dict[str, Any]:
        """The worker's /stats; a worker busy on both cores may take seconds to answer."""
        data = self.stats_or_none(timeout=15)
        assert data is not None, f"worker /stats did not answer:\n{self.log_tail()}"
        return data

    def log_tail(self, lines: int = 40, matching: str = "") -> str:
        """The log's last `lines` lines, or its last lines that match the regex `matching`."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join([line for line in text if re.search(matching, line)][-lines:])


def make_worker(bootstrap: str, tmp: Path, name: str, **overrides: str) -> Worker:
    """A worker with topics and app id of its own, so tests never share state by accident."""
    run = uuid.uuid4().hex[:8]
    port = free_port()
    env = {
        **os.environ,
        "BROKER_URL": f"kafka://{bootstrap}",
        "APP_ID": f"test-{name}-{run}",
        **{f"{spec.env_prefix}_INPUT_TOPIC": f"{spec.default_input_topic}-{run}"
           for spec in load(SHIPPED)},
        **{f"{spec.env_prefix}_OUTPUT_TOPIC": f"{spec.default_output_topic}-{run}"
           for spec in load(SHIPPED)},
        "WEB_PORT": str(port),
        "APP_DATADIR": str(tmp / f"{name}-{run}-data"),
        **overrides,
    }
    return Worker(name=name, env=env, web_port=port, log_path=OUTPUT / f"worker-{name}-{run}.log")


def twin(worker: Worker, tmp: Path, name: str) -> Worker:
    """Another worker of the same app (same group and topics), with its own port and data."""
    port = free_port()
    env = {**worker.env, "WEB_PORT": str(port), "APP_DATADIR": str(tmp / f"{name}-data")}
    return Worker(name=name, env=env, web_port=port,
                  log_path=OUTPUT / f"worker-{name}-{worker.env['APP_ID']}.log")


@pytest.fixture(scope="session")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """One worker shared by the pipeline tests; tests tell their events apart by key."""
    w = make_worker(bootstrap, tmp_path_factory.mktemp("worker"), "shared")
    w.start()
    yield w
    w.stop()
