"""What the benchmarks share: topics, pre-filled and paced input, output timestamps, processes.

Throughput is events divided by the span between the first and the last output
record's timestamp (so process start-up is not counted); latency is output timestamp
minus input timestamp, per key. Output topics are created with
`message.timestamp.type=LogAppendTime`, so every contender's outputs are stamped by the
broker when they land, whatever its client does with timestamps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from confluent_kafka import KafkaError, Producer

from agents.replay_source import read_messages
from pipelines.registry import SHIPPED, load
from pipelines.spec import PipelineSpec

ROOT = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent
BOOTSTRAP = os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:9092")
PARTITIONS = 4
TIMEOUT_S = 600.0
RUN = uuid.uuid4().hex[:6]
#: Everything the run's contenders write to disk; their temporary files too (TMPDIR).
SCRATCH = Path(tempfile.gettempdir()) / f"kafka-inference-bench-{RUN}"
LOGS = ROOT / "test-output" / "bench"
#: Module -> pipeline, for every shipped pipeline with examples to send.
PIPELINES = {module: spec for module in SHIPPED for spec in load([module])
             if spec.examples is not None}
HEART_MODULE = next(m for m, spec in PIPELINES.items() if spec.name == "heart")
HEART = PIPELINES[HEART_MODULE]


def events(spec: PipelineSpec[Any]) -> int:
    """How many events a pipeline's contenders score (`BENCH_<NAME>_EVENTS` to change it)."""
    return int(os.environ.get(f"BENCH_{spec.env_prefix}_EVENTS", spec.bench_events))


def examples(spec: PipelineSpec[Any]) -> list[bytes]:
    if spec.examples is None:
        raise ValueError(f"{spec.name} has no examples to send")
    return read_messages(spec.examples)


async def create_topics(*names: str, outputs: Sequence[str] = ()) -> None:
    """Input and output topics (each output with its `-dlq`), every record stamped by the
    broker as it is written: an input's stamp is the moment a contender could first read
    it, so a latency splits into the load generator's share and the contender's."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        stamped = {"message.timestamp.type": "LogAppendTime"}
        topics = [*names, *(n for name in outputs for n in (name, f"{name}-dlq"))]
        await admin.create_topics([NewTopic(n, PARTITIONS, 1, topic_configs=stamped)
                                   for n in topics])
    finally:
        await admin.close()
    await until_led(topics)


async def until_led(topics: Sequence[str]) -> None:
    """Return once the broker serves every partition of `topics` as their leader.

    It names a new partition's leader a moment before it acts as one, and a first send
    then fails with NotLeaderForPartition and is retried, logged as a warning. An offset
    lookup of such a partition is retried as well, without a word.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP)
    await consumer.start()
    try:
        await consumer.end_offsets([TopicPartition(topic, p) for topic in topics
                                    for p in range(PARTITIONS)])
    finally:
        await consumer.stop()


async def topic_count() -> int:
    """How many topics the broker holds."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        return len(await admin.list_topics())
    finally:
        await admin.close()


def scratch(prefix: str) -> str:
    """A new folder for one contender's files, inside this run's (`SCRATCH`)."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=SCRATCH)


async def clean_up_run() -> None:
    """Drop every topic this run made, its workers' internal ones included, and the
    run's scratch folder (workers' data, Quix's state, result files).

    A broker that keeps thousands of old topics makes every full metadata read slower
    for everyone using it, later benchmark runs too.
    """
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        await admin.start()
        try:
            ours = [t for t in await admin.list_topics()
                    if t.startswith("bench-") and RUN in t]
            if ours:
                await admin.delete_topics(ours)
        finally:
            await admin.close()
    finally:
        if SCRATCH.exists():
            shutil.rmtree(SCRATCH)


async def fill(topic: str, values: Sequence[bytes], count: int) -> None:
    """Pre-produce `count` events, cycling through `values`, keyed by index, spread over the
    partitions in turn.

    Built into record batches here: sent one by one, the events left at about 90,000/s
    using a whole core, which capped the runs whose workers read while it fills (two
    workers read what one producer could send); batched, about 550,000/s.
    """
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all",
                                max_batch_size=1 << 20)
    await producer.start()
    try:
        pending = []
        batches = [producer.create_batch() for _ in range(PARTITIONS)]
        for i in range(count):
            partition, key, value = i % PARTITIONS, f"{i}".encode(), values[i % len(values)]
            if batches[partition].append(key=key, value=value, timestamp=None) is None:
                pending.append(await producer.send_batch(batches[partition], topic,
                                                         partition=partition))
                batches[partition] = producer.create_batch()
                batches[partition].append(key=key, value=value, timestamp=None)
        for partition, batch in enumerate(batches):
            pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def warm_up(source: str, output: str, value: bytes) -> None:
    """One event to each partition, answered: every worker of the group is reading.

    Owning its partitions is not yet reading them: in a run of two workers, the second
    answered its first events 0.8 s after the first worker, which the span then counted.
    """
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(source, value, key=b"warm-up-%d" % p,
                                                   partition=p) for p in range(PARTITIONS)])
    finally:
        await producer.stop()
    await output_timestamps(output, PARTITIONS)


def without_warm_up(stamps: dict[bytes, int]) -> dict[bytes, int]:
    return {key: stamp for key, stamp in stamps.items() if not key.startswith(b"warm-up")}


async def output_timestamps(topic: str, count: int) -> dict[bytes, int]:
    """Key -> timestamp (ms) of `topic`'s records once `count` distinct keys have arrived.

    Reads the records only once the topic holds `count` of them: the stamps are the
    broker's, so reading later changes none, and a reader decoding them beside the
    contender takes a share of this machine's two cores from it (two heart workers read
    131,000-137,000 events/s with it beside them, 168,000-188,000 without).
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False,
                                isolation_level="read_committed", auto_offset_reset="earliest")
    await consumer.start()
    stamps: dict[bytes, int] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        deadline = time.monotonic() + TIMEOUT_S
        await _until_holds(consumer, partitions, count, deadline)
        # Assigned only now, and read from the start by the reset policy alone: a seek
        # made while aiokafka's own first position lookup (to the latest offset) was in
        # flight could lose to it, and the reader then waited behind the records.
        consumer.assign(partitions)
        while len(stamps) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: {len(stamps)} of {count} outputs")
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    stamps.setdefault(r.key or b"", r.timestamp)
        return stamps
    finally:
        await consumer.stop()


async def _until_holds(consumer: AIOKafkaConsumer, partitions: list[TopicPartition],
                       count: int, deadline: float) -> None:
    """Wait until the partitions hold at least `count` records, asking only for offsets.

    Transaction markers take offsets too, so a transactional topic may pass a little
    early; the reader then waits for the rest.
    """
    first = await consumer.beginning_offsets(partitions)
    while time.monotonic() < deadline:
        last = await consumer.end_offsets(partitions)
        if sum(last[tp] - first[tp] for tp in partitions) >= count:
            return
        await asyncio.sleep(0.1)


def span_eps(stamps: dict[bytes, int]) -> float:
    values = list(stamps.values())
    return round(len(values) / max((max(values) - min(values)) / 1000, 1e-3), 1)


def start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Run a contender with a data folder (Faust's APP_DATADIR) and TMPDIR of its own in
    the run's scratch folder, logging to LOGS."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = (LOGS / f"{name}-{RUN}.log").open("wb")
    scratch_env = {"TMPDIR": scratch("tmp-"), "APP_DATADIR": scratch(f"{name}-")}
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, **scratch_env, **env},
                            stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a contender and every process it started.

    A child left running (Spark's JVM outlives its Python driver for a while) writes
    into folders about to be removed and takes CPU from the next contender.
    """
    descendants = _children(proc.pid)
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in descendants:
        _end(pid)


def _end(pid: int, within_s: float = 30.0) -> None:
    """Terminate a process that is not our child and wait until it is gone; kill it if
    it is still there after `within_s`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):  # gone already: as wanted
            os.kill(pid, sig)
        deadline = time.monotonic() + within_s
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _running(pid):
            return


def _running(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and its children, in MB."""
    total_kb = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except FileNotFoundError:
            continue
    return round(total_kb / 1024, 1)


def _children(pid: int) -> list[int]:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(k) for k in kids] + [g for k in kids for g in _children(int(k))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Worker:
    """A `faust -A app worker` of one pipeline, on topics of the run's own."""

    name: str
    env: dict[str, str]

    @classmethod
    def of(cls, name: str, module: str, source: str, output: str, **settings: str) -> Worker:
        spec = PIPELINES[module]
        return cls(name, {
            "APP_ID": f"bench-{name}-{RUN}", "WEB_PORT": str(free_port()),
            "BROKER_URL": f"kafka://{BOOTSTRAP}", "PIPELINES": module,
            f"{spec.env_prefix}_INPUT_TOPIC": source,
            f"{spec.env_prefix}_OUTPUT_TOPIC": output, **settings})

    def twin(self, name: str) -> Worker:
        """Another worker of the same app: same group and topics, its own port (and, as
        every process started here, its own data folder)."""
        return Worker(name, {**self.env, "WEB_PORT": str(free_port())})

    def start(self) -> subprocess.Popen[bytes]:
        return start(self.name, [str(BIN / "faust"), "-A", "app", "worker", "-l", "info"],
                     self.env)

    def owned(self) -> int:
        """Input partitions this worker owns once its group has settled (0 while not)."""
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.env['WEB_PORT']}/stats", timeout=2) as reply:
                stats = json.loads(reply.read())
        except OSError:
            return 0
        if stats["worker"]["rebalancing"]:
            return 0
        return sum(len(ps) for ps in stats["worker"]["assigned"].values())


async def received_times(topic: str, count: int, into: dict[bytes, int],
                         ready: asyncio.Event) -> None:
    """Key -> when a read_committed reader got it (ms), until `count` keys have come.

    `ready` is set once the reader stands at the topic's end.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False,
                                isolation_level="read_committed", fetch_max_wait_ms=10)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_end()
        for tp in partitions:
            await consumer.position(tp)
        ready.set()
        deadline = time.monotonic() + TIMEOUT_S
        while len(into) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                now = int(time.time() * 1000)
                for r in records:
                    into.setdefault(r.key or b"", now)
    finally:
        await consumer.stop()


@dataclass
class Paced:
    """A paced run's latencies (ms, in sending order): from each event's send and from its
    input's broker stamp (the contender's share), and what the host took and each process
    used while it sent; runs add up."""

    delays: list[int] = field(default_factory=list)
    from_input: list[int] = field(default_factory=list)
    host: HostUse = field(default_factory=lambda: HostUse())

    def __add__(self, other: Paced) -> Paced:
        return Paced(self.delays + other.delays, self.from_input + other.from_input,
                     self.host + other.host)


async def paced_latency(topic: str, output: str, values: Sequence[bytes], rate: int,
                        seconds: float, *, until_committed: bool = False,
                        contender: int | None = None) -> Paced:
    """Each event's ms from input to output, sending `rate` events/s for `seconds`, and the
    CPU the host and the `contender` process took meanwhile.

    Waits for an answer from every partition first (`warm_up`), so a contender's start-up
    is not counted: one answer showed only that one of its partitions was being read. With
    `until_committed`, an output counts when a read_committed reader has it (a
    transaction's records are stamped when written, before they are committed).
    """
    await warm_up(topic, output, values[0])
    count = int(rate * seconds)
    received: dict[bytes, int] = {}
    reader_ready = asyncio.Event()
    reading = (asyncio.ensure_future(received_times(output, count, received, reader_ready))
               if until_committed else None)
    if reading is not None:
        await reader_ready.wait()
    broker = broker_pid()
    host = HostUse.now(contender, broker)
    sent = await asyncio.to_thread(send_paced, topic, values, rate, count)
    host = HostUse.now(contender, broker) - host
    if reading is not None:
        await reading
    stamps = (received if reading is not None
              else await output_timestamps(output, count + PARTITIONS))
    inputs = await output_timestamps(topic, count + PARTITIONS)
    return Paced([stamps[k] - t for k, t in sent.items()],
                 [stamps[k] - inputs[k] for k in sent], host)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its children have used, in seconds."""
    ticks = 0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def broker_pid() -> int | None:
    """The process listening on the bench's broker port on this machine, if any: a broker
    elsewhere does not share this machine's cores."""
    port = int(BOOTSTRAP.rsplit(":", 1)[1])
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                sockets.add(f"socket:[{fields[9]}]")
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if os.readlink(fd) in sockets:
                return int(fd.parts[2])
        except OSError:
            continue
    return None


def send_paced(topic: str, values: Sequence[bytes], rate: int, count: int) -> dict[bytes, int]:
    """Send `count` events at `rate` a second, each as it is due (no linger), and wait for
    every acknowledgement; key -> the moment it was sent (ms).

    librdkafka, from a thread of its own: the same load from aiokafka's producer took 0.35
    of a core at 1,000/s beside the contender on this machine's two, where this takes 0.13;
    in alternating runs the app's p99 read 13-14 ms beside that one, 10-11 beside this.
    """
    failed: list[str] = []

    def check(error: KafkaError | None, _: object) -> None:
        if error is not None:
            failed.append(str(error))

    # One request in flight, as aiokafka's producer keeps: what comes due meanwhile leaves
    # together in the next. With librdkafka's default of many, each event was a request of
    # its own at 10,000/s too, and the broker fell behind (p50 830 ms).
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 0, "acks": 1,
                         "max.in.flight.requests.per.connection": 1})
    sent: dict[bytes, int] = {}
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        key = f"lat-{i}".encode()
        now_ms = int(time.time() * 1000)
        sent[key] = now_ms
        producer.produce(topic, values[i % len(values)], key=key, timestamp=now_ms,
                         on_delivery=check)
        producer.poll(0)
    if producer.flush(TIMEOUT_S) or failed:
        raise RuntimeError(f"{topic}: {len(failed)} sends failed or unacknowledged: {failed[:3]}")
    return sent


@dataclass
class HostUse:
    """What the host and each process took over a run: the CPU time the hypervisor gave
    to other guests (steal ticks of all ticks, from /proc/stat), and the CPU seconds of
    a contender, this process (the load generator and reader) and the local broker, with
    the run's wall seconds.

    On two shared cores a contender's latency tail is the host's and the other processes'
    as much as its own, so each latency run says how much each one took.
    """

    stolen: int = 0
    ticks: int = 0
    contender: float = 0.0
    load: float = 0.0
    broker: float = 0.0
    wall: float = 0.0

    @staticmethod
    def now(pid: int | None, broker: int | None) -> HostUse:
        ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return HostUse(ticks[7], sum(ticks),
                       cpu_seconds(pid) if pid is not None else 0.0, time.process_time(),
                       cpu_seconds(broker) if broker is not None else 0.0, time.monotonic())

    def __sub__(self, earlier: HostUse) -> HostUse:
        return HostUse(*(a - b for a, b in zip(astuple(self), astuple(earlier), strict=True)))

    def __add__(self, other: HostUse) -> HostUse:
        return HostUse(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def steal_pct(self) -> float:
        return round(100 * self.stolen / max(self.ticks, 1), 1)

    def cores(self) -> dict[str, float]:
        """Each process's average share of a core."""
        wall = max(self.wall, 1e-9)
        return {"contender": round(self.contender / wall, 2),
                "load": round(self.load / wall, 2), "broker": round(self.broker / wall, 2)}


def latency_figures(delays: Sequence[int]) -> dict[str, float]:
    """p50 / p99 / max of delays in ms."""
    ordered = sorted(delays)
    return {"p50_ms": float(statistics.median(ordered)),
            "p99_ms": float(ordered[int(0.99 * (len(ordered) - 1))]),
            "max_ms": float(ordered[-1])}
