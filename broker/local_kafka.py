"""Fetch, start, stop and inspect a local Apache Kafka: one node, or a replicated cluster.

The jars come from Maven Central through the machine's `mvn` (see `pom.xml` beside this
file) into `.kafka/lib` at the repository root, which git ignores. Each node runs KRaft
in combined mode (broker and controller in one process) with its own folder under
KAFKA_HOME: `node-<id>/` holds its configuration, data, `broker.log`, `broker.pid`, its
JVM's `kafkaServer-gc.log` and, with an authorizer, `authorizer.log` (every denied
request: the audit trail). The JVM runs with the options Kafka's own `kafka-server-start.sh`
gives it.

    python broker/local_kafka.py fetch
    python broker/local_kafka.py start|stop [--node ID]     # all nodes, or one
    python broker/local_kafka.py status                     # nodes, and the active controller

Settings (environment):
  KAFKA_NODES (1): nodes; with 3, topics the brokers create themselves (consumer offsets,
      transactions) get 3 replicas and min.insync.replicas 2, as do their defaults.
  KAFKA_PORT (9092): the first node's client port, the next nodes' follow it;
  KAFKA_CONTROLLER_PORT (KAFKA_PORT + KAFKA_NODES): the first controller port, likewise.
  KAFKA_HOME (.kafka), KAFKA_LIB (.kafka/lib), KAFKA_HEAP (512m per node).
  KAFKA_AUTH=1: clients must log in (SASL/PLAIN) and Kafka's StandardAuthorizer allows only
      what an ACL grants (`allow.everyone.if.no.acl.found=false`); `admin` is the super
      user. Users and passwords are read from `KAFKA_HOME/users.properties`
      (`name=password` lines), made with `admin` and `app` on first start.
  For a secured listener beside the plain one on a single node: KAFKA_EXTRA_LISTENER
      (e.g. SASL_SSL://127.0.0.1:9094, the name being its security protocol) and
      KAFKA_EXTRA_CONFIG (a file of broker properties added to the configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
POM = HERE / "pom.xml"
LOG_CONFIG = HERE / "log4j2.properties"
TOOLS_LOG_CONFIG = HERE / "log4j2-tools.properties"
START_TIMEOUT_S = 120.0
#: The group a start asks a coordinator for (`names_a_group_coordinator`); it never joins.
READY_GROUP = "local-kafka-ready"
T = TypeVar("T")
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule required"


@dataclass(frozen=True)
class Node:
    """One combined broker+controller process of the local cluster."""

    id: int
    port: int
    controller_port: int
    folder: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.folder / "broker.pid"

    @property
    def log(self) -> Path:
        return self.folder / "broker.log"

    def pid(self) -> int | None:
        """The node's process id while it runs."""
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def home() -> Path:
    return Path(os.environ.get("KAFKA_HOME", ROOT / ".kafka")).resolve()


def nodes() -> list[Node]:
    """The nodes the settings describe."""
    count = _env_int("KAFKA_NODES", 1)
    port = _env_int("KAFKA_PORT", 9092)
    controller_port = _env_int("KAFKA_CONTROLLER_PORT", port + count)
    return [Node(i + 1, port + i, controller_port + i, home() / f"node-{i + 1}")
            for i in range(count)]


def bootstrap() -> str:
    """The address list clients use to reach the local cluster."""
    return ",".join(node.address for node in nodes())


def auth_enabled() -> bool:
    return os.environ.get("KAFKA_AUTH", "") not in ("", "0", "false")


def users_file() -> Path:
    return home() / "users.properties"


def users() -> dict[str, str]:
    """name -> password of every SASL user (auth only); the file is made on first use."""
    path = users_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"admin={secrets.token_hex(16)}\napp={secrets.token_hex(16)}\n")
        path.chmod(0o600)
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name.strip(): password.strip() for name, password in pairs}


def admin_options() -> dict[str, Any]:
    """aiokafka options of the super user, for the launcher's own checks."""
    if not auth_enabled():
        return {}
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
            "sasl_plain_username": "admin", "sasl_plain_password": users()["admin"]}


def _kafka_version() -> str:
    text = POM.read_text()
    start = text.index("<kafka.version>") + len("<kafka.version>")
    return text[start : text.index("</kafka.version>")]


def _lib() -> Path:
    return Path(os.environ.get("KAFKA_LIB", ROOT / ".kafka" / "lib")).resolve()


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


def _replication_lines(count: int) -> list[str]:
    replicas, in_sync = min(3, count), 2 if count >= 3 else 1
    return [
        f"offsets.topic.replication.factor={replicas}",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={in_sync}",
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={in_sync}",
        # A dead broker is fenced, and its partitions led elsewhere, after 3 s without a
        # heartbeat (Kafka's default is 9 s): the worker's stall when one dies.
        "broker.session.timeout.ms=3000",
        "broker.heartbeat.interval.ms=1000",
    ]


def _listener_lines(node: Node) -> list[str]:
    """Plain listeners, or SASL/PLAIN ones (controllers included) behind the authorizer."""
    if not auth_enabled():
        extra = os.environ.get("KAFKA_EXTRA_LISTENER")
        extra_name = extra.partition("://")[0] if extra else ""
        return [
            f"listeners=PLAINTEXT://{node.address},CONTROLLER://127.0.0.1:{node.controller_port}"
            + (f",{extra}" if extra else ""),
            f"advertised.listeners=PLAINTEXT://{node.address}" + (f",{extra}" if extra else ""),
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
            + (f",{extra_name}:{extra_name}" if extra else ""),
        ]
    accounts = users()
    known = " ".join(f'user_{name}="{password}"' for name, password in accounts.items())
    login = f'{PLAIN_LOGIN} username="admin" password="{accounts["admin"]}" {known};'
    return [
        f"listeners=SASL_PLAINTEXT://{node.address},"
        f"CONTROLLER://127.0.0.1:{node.controller_port}",
        f"advertised.listeners=SASL_PLAINTEXT://{node.address}",
        "inter.broker.listener.name=SASL_PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms=PLAIN",
        "sasl.mechanism.inter.broker.protocol=PLAIN",
        "sasl.mechanism.controller.protocol=PLAIN",
        f"listener.name.sasl_plaintext.plain.sasl.jaas.config={login}",
        f"listener.name.controller.plain.sasl.jaas.config={login}",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        "super.users=User:admin",
    ]


def _write_config(node: Node, cluster: list[Node]) -> Path:
    config = node.folder / "server.properties"
    voters = ",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in cluster)
    extra_config = os.environ.get("KAFKA_EXTRA_CONFIG")
    config.write_text("\n".join([
        "process.roles=broker,controller",
        f"node.id={node.id}",
        f"controller.quorum.voters={voters}",
        "controller.listener.names=CONTROLLER",
        *_listener_lines(node),
        f"log.dirs={node.folder / 'data'}",
        "num.partitions=4",
        "offsets.topic.num.partitions=8",
        *_replication_lines(len(cluster)),
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
        Path(extra_config).read_text() if extra_config else "",
        "",
    ]))
    return config


def _java(*args: str, logs: Path | None = None) -> list[str]:
    """A Kafka JVM: a node logging into `logs` (its audit log too), or a tool logging
    warnings to stderr and writing no files."""
    logging_args = ([f"-Dlog4j2.configurationFile={LOG_CONFIG}", f"-Dkafka.logs.dir={logs}"]
                    if logs else [f"-Dlog4j2.configurationFile={TOOLS_LOG_CONFIG}"])
    return ["java", *logging_args, "-cp", f"{_lib()}/*", *args]


def _cluster_id() -> str:
    """One id for every node of the cluster, kept beside them."""
    path = home() / "cluster.id"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
    return path.read_text().strip()


def _format_storage(node: Node, config: Path) -> None:
    if (node.folder / "data" / "meta.properties").exists():
        return
    # "--cluster-id=" keeps an id that starts with "-" from reading as an option.
    cmd = _java("kafka.tools.StorageTool", "format", f"--cluster-id={_cluster_id()}",
                "-c", str(config))
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        _fail(f"formatting storage of node {node.id} failed:\n{result.stdout}{result.stderr}")


async def _ask(address: str, timeout_s: float,
               question: Callable[[AIOKafkaAdminClient], Awaitable[T]]) -> T | None:
    """The node at `address`'s answer to `question`, or None when it gives none in time."""
    admin = AIOKafkaAdminClient(bootstrap_servers=address,
                                request_timeout_ms=int(timeout_s * 1000), **admin_options())
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        return await asyncio.wait_for(question(admin), timeout_s)
    except (KafkaError, OSError, TimeoutError):
        return None
    finally:
        await admin.close()


def brokers_seen(address: str, timeout_s: float = 3.0) -> int:
    """How many brokers the node at `address` lists (0 when it does not answer)."""
    cluster = asyncio.run(_ask(address, timeout_s, lambda admin: admin.describe_cluster()))
    return len(cluster["brokers"]) if cluster else 0


def names_a_group_coordinator(address: str, timeout_s: float = 3.0) -> bool:
    """True once the cluster names a coordinator for a group.

    The first such question creates `__consumer_offsets`; until its partitions have leaders,
    a worker's question fails and aiokafka logs that as an ERROR, so a new cluster is not
    called up before it can answer.
    """
    coordinator = asyncio.run(_ask(address, timeout_s,
                                   lambda admin: admin.find_coordinator(READY_GROUP)))
    return coordinator is not None


def is_up(address: str | None = None, timeout_s: float = 3.0) -> bool:
    """True when a broker at `address` (default: the first node) answers a metadata request."""
    return brokers_seen(address or nodes()[0].address, timeout_s) > 0


#: kafka-run-class.sh's KAFKA_JVM_PERFORMANCE_OPTS, so the broker runs as Kafka ships it:
#: without them G1 aims at pauses of 200 ms instead of 20, and each pause stalls every client.
JVM_PERFORMANCE_OPTIONS = ("-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                           "-XX:InitiatingHeapOccupancyPercent=35",
                           "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15",
                           "-Djava.awt.headless=true")


def _launch(node: Node, cluster: list[Node]) -> subprocess.Popen[bytes]:
    node.folder.mkdir(parents=True, exist_ok=True)
    config = _write_config(node, cluster)
    _format_storage(node, config)
    heap = os.environ.get("KAFKA_HEAP", "512m")
    gc_log = (f"-Xlog:gc*:file={node.folder / 'kafkaServer-gc.log'}:time,tags"
              ":filecount=10,filesize=100M")
    with node.log.open("ab") as out:
        proc = subprocess.Popen(
            _java(f"-Xms{heap}", f"-Xmx{heap}", *JVM_PERFORMANCE_OPTIONS, gc_log,
                  "kafka.Kafka", str(config), logs=node.folder),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    node.pid_file.write_text(str(proc.pid))
    return proc


def start(only: int | None = None) -> None:
    """Start the nodes (or node `only`) in the background; reuse a cluster already up.

    The jars are fetched either way: the console tools in broker/bin run from them.
    """
    fetch()
    cluster = nodes()
    chosen = [n for n in cluster if only in (None, n.id)]
    if only is None and brokers_seen(cluster[0].address) >= len(cluster):
        print(f"local_kafka: Kafka already answers at {bootstrap()}; reusing it")
        return
    launched = {n.id: _launch(n, cluster) for n in chosen if n.pid() is None}
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = list(chosen)
    while waiting and time.monotonic() < deadline:
        for node in list(waiting):
            proc = launched.get(node.id)
            if proc is not None and proc.poll() is not None:
                _fail(f"node {node.id} exited with code {proc.returncode}; see {node.log}")
            if brokers_seen(node.address, 2.0) >= len(cluster):
                waiting.remove(node)
        time.sleep(0.5)
    if waiting:
        _fail(f"node(s) {[n.id for n in waiting]} not serving within {START_TIMEOUT_S:.0f}s; "
              f"see {', '.join(str(n.log) for n in waiting)}")
    while only is None and not names_a_group_coordinator(cluster[0].address, 2.0):
        if time.monotonic() > deadline:
            _fail(f"no group coordinator within {START_TIMEOUT_S:.0f}s; see {cluster[0].log}")
        time.sleep(0.5)
    pids = ", ".join(f"node {n.id} pid {n.pid()}" for n in chosen)
    print(f"local_kafka: Kafka {_kafka_version()} is up at {bootstrap()} ({pids})"
          + (f"; users in {users_file()}" if auth_enabled() else ""))


def stop(only: int | None = None) -> None:
    """Stop the nodes (or node `only`) started from here, waiting for each to exit.

    All are told at once: a node stopped after the others would wait for a quorum that
    is gone before it gave up.
    """
    running = {}
    for node in nodes():
        if only not in (None, node.id):
            continue
        pid = node.pid()
        if pid is None:
            print(f"local_kafka: node {node.id} is not running")
            continue
        os.kill(pid, signal.SIGTERM)
        running[node] = pid
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(n.pid() is not None for n in running):
        time.sleep(0.2)
    for node, pid in running.items():
        if node.pid() is not None:
            os.kill(pid, signal.SIGKILL)
            print(f"local_kafka: node {node.id} did not stop within 60 s; killed it")
        node.pid_file.unlink(missing_ok=True)
        print(f"local_kafka: stopped node {node.id} (pid {pid})")


def active_controller() -> int | None:
    """The node id leading the KRaft quorum, asked of the controllers with Kafka's tool."""
    cmd = _java("org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-controller",
                ",".join(f"127.0.0.1:{n.controller_port}" for n in nodes()))
    if auth_enabled():
        config = home() / "admin.properties"
        config.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                          f'sasl.jaas.config={PLAIN_LOGIN} username="admin" '
                          f'password="{users()["admin"]}";\n')
        cmd += ["--command-config", str(config)]
    result = subprocess.run([*cmd, "describe", "--status"], capture_output=True, text=True,
                            timeout=60)
    for line in result.stdout.splitlines():
        if line.startswith("LeaderId:"):
            return int(line.split(":")[1])
    return None


def status() -> int:
    """Print each node's state and the active controller; exit status 0 when all are up."""
    cluster = nodes()
    up = 0
    for node in cluster:
        seen = brokers_seen(node.address)
        up += seen > 0
        pid = node.pid()
        print(f"local_kafka: node {node.id} at {node.address} is {'up' if seen else 'down'}"
              + (f" (pid {pid})" if pid else ""))
    if up:
        print(f"local_kafka: active controller: node {active_controller()}")
    return 0 if up == len(cluster) else 1


def main() -> None:
    # Connection refusals while the nodes boot are expected; the script reports the outcome.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["fetch", "start", "stop", "status"])
    parser.add_argument("--node", type=int, help="only this node (start, stop)")
    args = parser.parse_args()
    if args.command == "fetch":
        fetch()
    elif args.command == "start":
        start(args.node)
    elif args.command == "stop":
        stop(args.node)
    else:
        raise SystemExit(status())


if __name__ == "__main__":
    main()
