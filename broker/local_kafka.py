"""Fetch, start, stop and inspect a local single-node Apache Kafka broker (KRaft mode).

The broker's jars come from Maven Central through the machine's `mvn` (see `pom.xml`
beside this file) and live in `.kafka/` at the repository root, which git ignores.

    python broker/local_kafka.py fetch|start|stop|status

Settings (environment): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
KAFKA_HOME (.kafka), KAFKA_LIB ($KAFKA_HOME/lib), KAFKA_HEAP (512m); for a secured
listener beside the plain one, KAFKA_EXTRA_LISTENER (e.g. SASL_SSL://127.0.0.1:9094, the
name being its security protocol) and KAFKA_EXTRA_CONFIG (a file of broker properties
added to the configuration, e.g. its certificates and users).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import NoReturn

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
POM = HERE / "pom.xml"
LOG_CONFIG = HERE / "log4j2.properties"
START_TIMEOUT_S = 90.0


def _home() -> Path:
    return Path(os.environ.get("KAFKA_HOME", ROOT / ".kafka")).resolve()


def _port() -> int:
    return int(os.environ.get("KAFKA_PORT", "9092"))


def _controller_port() -> int:
    return int(os.environ.get("KAFKA_CONTROLLER_PORT", "9093"))


def bootstrap() -> str:
    """The address clients use to reach the local broker."""
    return f"127.0.0.1:{_port()}"


def _kafka_version() -> str:
    text = POM.read_text()
    start = text.index("<kafka.version>") + len("<kafka.version>")
    return text[start : text.index("</kafka.version>")]


def _lib() -> Path:
    return Path(os.environ.get("KAFKA_LIB", _home() / "lib")).resolve()


def _fail(message: str) -> NoReturn:
    print(f"local_kafka: {message}", file=sys.stderr)
    raise SystemExit(1)


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        _fail(f"`{tool}` was not found on PATH. {hint}")
    return path


def fetch() -> Path:
    """Copy Kafka and its runtime dependencies into .kafka/lib once per version."""
    lib = _lib()
    stamp = lib / f".kafka-{_kafka_version()}"
    if stamp.exists():
        return lib
    mvn = _require("mvn", "Install Apache Maven (Debian: apt-get install maven).")
    _require("java", "Install Java 17+ (Debian: apt-get install openjdk-17-jre-headless).")
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    print(f"local_kafka: fetching Apache Kafka {_kafka_version()} with Maven into {lib}")
    cmd = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
           f"-DoutputDirectory={lib}", "-DincludeScope=runtime"]
    if subprocess.run(cmd).returncode != 0:
        _fail("Maven could not fetch Kafka; see its output above.")
    stamp.touch()
    return lib


def _write_config(home: Path) -> Path:
    config = home / "server.properties"
    data = home / "data"
    extra = os.environ.get("KAFKA_EXTRA_LISTENER")
    extra_name = extra.partition("://")[0] if extra else ""
    extra_config = os.environ.get("KAFKA_EXTRA_CONFIG")
    config.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{_controller_port()}",
                f"listeners=PLAINTEXT://127.0.0.1:{_port()},"
                f"CONTROLLER://127.0.0.1:{_controller_port()}" + (f",{extra}" if extra else ""),
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{_port()}"
                + (f",{extra}" if extra else ""),
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
                + (f",{extra_name}:{extra_name}" if extra else ""),
                f"log.dirs={data}",
                "num.partitions=4",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                Path(extra_config).read_text() if extra_config else "",
                "",
            ]
        )
    )
    return config


def _java(*args: str) -> list[str]:
    return ["java", f"-Dlog4j2.configurationFile={LOG_CONFIG}", "-cp", f"{_lib()}/*", *args]


def _format_storage(home: Path, config: Path) -> None:
    if (home / "data" / "meta.properties").exists():
        return
    cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    # "--cluster-id=" keeps an id that starts with "-" from reading as an option.
    cmd = _java("kafka.tools.StorageTool", "format", f"--cluster-id={cid}", "-c", str(config))
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        _fail(f"formatting storage failed:\n{result.stdout}{result.stderr}")


async def _answers_metadata(address: str, timeout_s: float) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=address, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.describe_cluster(), timeout_s)
        return True
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()


def is_up(address: str | None = None, timeout_s: float = 3.0) -> bool:
    """True when a broker at `address` answers a metadata request."""
    return asyncio.run(_answers_metadata(address or bootstrap(), timeout_s))


def _pid_file() -> Path:
    return _home() / "broker.pid"


def _running_pid() -> int | None:
    try:
        pid = int(_pid_file().read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def start() -> None:
    """Start the broker in the background, or reuse one already answering on the port.

    The jars are fetched either way: the console tools in broker/bin run from them.
    """
    fetch()
    if is_up():
        print(f"local_kafka: a broker already answers at {bootstrap()}; reusing it")
        return
    home = _home()
    home.mkdir(parents=True, exist_ok=True)
    config = _write_config(home)
    _format_storage(home, config)
    log = home / "broker.log"
    heap = os.environ.get("KAFKA_HEAP", "512m")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            _java(f"-Xms{heap}", f"-Xmx{heap}", "kafka.Kafka", str(config)),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    _pid_file().write_text(str(proc.pid))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _fail(f"the broker exited with code {proc.returncode}; see {log}")
        if is_up(timeout_s=2.0):
            print(f"local_kafka: Kafka {_kafka_version()} is up at {bootstrap()} (pid {proc.pid})")
            return
        time.sleep(0.5)
    _fail(f"the broker did not answer within {START_TIMEOUT_S:.0f}s; see {log}")


def stop() -> None:
    """Stop the broker this script started, waiting for it to exit."""
    pid = _running_pid()
    if pid is None:
        print("local_kafka: no broker started from here is running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    _pid_file().unlink(missing_ok=True)
    print(f"local_kafka: stopped broker (pid {pid})")


def status() -> int:
    """Print whether a broker answers; exit status 0 when it does."""
    up = is_up()
    pid = _running_pid()
    where = f" (pid {pid})" if pid else ""
    print(f"local_kafka: broker at {bootstrap()} is {'up' if up else 'down'}{where}")
    return 0 if up else 1


def main() -> None:
    # Connection refusals while the broker boots are expected; the script reports the outcome.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["fetch", "start", "stop", "status"])
    command = parser.parse_args().command
    if command == "fetch":
        fetch()
    elif command == "start":
        start()
    elif command == "stop":
        stop()
    else:
        raise SystemExit(status())


if __name__ == "__main__":
    main()
