"""`make bench`: throughput and latency of the app beside its baselines, on the real broker.

Each contender runs as its own process against topics pre-filled with the same events.
Throughput is events divided by the span between the first and the last output record's
timestamp (so process start-up is not counted); latency is output timestamp minus input
timestamp, per key, at a fixed offered rate. Prints a table, then one line of JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.replay_source import read_messages  # noqa: E402
from pipelines.registry import SHIPPED, load  # noqa: E402
from pipelines.spec import Examples, PipelineSpec  # noqa: E402

BIN = Path(sys.executable).parent
BOOTSTRAP = os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:9092")
PARTITIONS = 4
#: Every registered pipeline with examples runs as a contender; the baselines run heart's.
PIPELINES = [spec for spec in load(SHIPPED) if spec.examples is not None]
HEART = next(spec for spec in PIPELINES if spec.name == "heart")
NAIVE_EVENTS = int(os.environ.get("BENCH_NAIVE_EVENTS", "5000"))
LATENCY_RATE = 1000
LATENCY_SECONDS = 30
TIMEOUT_S = 600.0
RUN = uuid.uuid4().hex[:6]
LOGS = ROOT / "test-output" / "bench"


async def create_topics(*names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def delete_run_topics() -> None:
    """Drop every topic this run made, its workers' internal ones included.

    A broker that keeps thousands of old topics makes every full metadata read slower
    for everyone using it, later benchmark runs too.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith("bench-") and RUN in t]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()


async def fill(topic: str, values: Sequence[bytes], count: int) -> None:
    """Pre-produce `count` events, cycling through `values`, keyed by index."""
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=20,
                                max_batch_size=1 << 20, acks="all")
    await producer.start()
    try:
        pending = []
        for i in range(count):
            pending.append(await producer.send(topic, values[i % len(values)],
                                               key=f"{i}".encode()))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def output_timestamps(topic: str, count: int) -> dict[bytes, int]:
    """Key -> output timestamp (ms) once `count` distinct keys have arrived."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    stamps: dict[bytes, int] = {}
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + TIMEOUT_S
        while len(stamps) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: {len(stamps)} of {count} outputs")
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    stamps.setdefault(r.key or b"", r.timestamp)
        return stamps
    finally:
        await consumer.stop()


def start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = (LOGS / f"{name}-{RUN}.log").open("wb")
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=log,
                            stderr=subprocess.STDOUT)


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


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def events(spec: PipelineSpec[Any]) -> int:
    """How many events a pipeline's contender scores (`BENCH_<NAME>_EVENTS` to change it)."""
    return int(os.environ.get(f"BENCH_{spec.env_prefix}_EVENTS", spec.bench_events))


def examples(spec: PipelineSpec[Any]) -> list[bytes]:
    shipped: Examples | None = spec.examples
    assert shipped is not None  # PIPELINES holds only pipelines with examples
    return read_messages(shipped)


def worker_env(name: str, **topics: str) -> dict[str, str]:
    """The app's settings for one contender: topics of its own unless given."""
    own = {f"{spec.env_prefix}_{end}_TOPIC": f"bench-{name}-{spec.name}-{end.lower()}-{RUN}"
           for spec in PIPELINES for end in ("INPUT", "OUTPUT")}
    return {"APP_ID": f"bench-{name}-{RUN}", "WEB_PORT": str(free_port()),
            "BROKER_URL": f"kafka://{BOOTSTRAP}",
            "APP_DATADIR": tempfile.mkdtemp(prefix=f"bench-{name}-"), **own, **topics}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def span_eps(stamps: dict[bytes, int]) -> float:
    values = list(stamps.values())
    return round(len(values) / max((max(values) - min(values)) / 1000, 1e-3), 1)


async def app_worker(spec: PipelineSpec[Any], topic: str, count: int) -> tuple[float, float]:
    """The app's worker on a pipeline's pre-filled topic: (events/s, peak RSS MB)."""
    out = f"bench-{spec.name}-out-{RUN}"
    await create_topics(out)
    prefix = spec.env_prefix
    proc = start(spec.name, [str(BIN / "faust"), "-A", "app", "worker", "-l", "info"],
                 worker_env(spec.name, **{f"{prefix}_INPUT_TOPIC": topic,
                                          f"{prefix}_OUTPUT_TOPIC": out}))
    try:
        stamps = await output_timestamps(out, count)
        return span_eps(stamps), peak_rss_mb(proc.pid)
    finally:
        stop(proc)


async def script(name: str, path: str, topic: str, count: int, *, faust_app: bool) -> float:
    """A baseline contender: events/s from its outputs, or from its own result file."""
    out = f"bench-{name}-out-{RUN}"
    await create_topics(out)
    result = Path(tempfile.mkdtemp()) / "result"
    env = {"BENCH_APP_ID": f"bench-{name}-{RUN}", "BROKER_URL": f"kafka://{BOOTSTRAP}",
           "BENCH_TOPIC": topic, "BENCH_OUTPUT": out, "BENCH_EVENTS": str(count),
           "BENCH_RESULT": str(result), "PYTHONPATH": str(ROOT)}
    module = path.removesuffix(".py").replace("/", ".")
    args = ([str(BIN / "faust"), "-A", module, "worker", "-l", "info", "--without-web"]
            if faust_app else [sys.executable, "-m", module])
    proc = start(name, args, env)
    try:
        if name.startswith("bare_"):
            deadline = time.monotonic() + TIMEOUT_S
            while not result.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} gave no result; see {LOGS}")
                await asyncio.sleep(0.2)
            return round(float(result.read_text()), 1)
        return span_eps(await output_timestamps(out, count))
    finally:
        stop(proc)


async def latency() -> dict[str, float]:
    """p50/p99/max ms from input to output at LATENCY_RATE events/s for LATENCY_SECONDS."""
    topic, out = f"bench-lat-in-{RUN}", f"bench-lat-out-{RUN}"
    await create_topics(topic, out)
    proc = start("latency", [str(BIN / "faust"), "-A", "app", "worker", "-l", "info"],
                 worker_env("latency", HEART_INPUT_TOPIC=topic, HEART_OUTPUT_TOPIC=out))
    values = examples(HEART)
    count = LATENCY_RATE * LATENCY_SECONDS
    try:
        await fill(topic, values[:1], 1)  # wait for the worker to answer before timing
        await output_timestamps(out, 1)
        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=0, acks=1)
        await producer.start()
        sent: dict[bytes, int] = {}
        started = time.monotonic()
        pending = []
        for i in range(count):
            delay = started + i / LATENCY_RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            key = f"lat-{i}".encode()
            now_ms = int(time.time() * 1000)
            sent[key] = now_ms
            pending.append(await producer.send(topic, values[i % len(values)], key=key,
                                               timestamp_ms=now_ms))
        await asyncio.gather(*pending)
        await producer.stop()
        stamps = await output_timestamps(out, count + 1)
        delays = sorted(stamps[k] - t for k, t in sent.items())
        return {"p50_ms": float(statistics.median(delays)),
                "p99_ms": float(delays[int(0.99 * (len(delays) - 1))]),
                "max_ms": float(delays[-1])}
    finally:
        stop(proc)


async def main() -> dict[str, Any]:
    topics = {spec.name: f"bench-{spec.name}-{RUN}" for spec in PIPELINES}
    naive_topic = f"bench-naive-{RUN}"
    await create_topics(*topics.values(), naive_topic)
    for spec in PIPELINES:
        await fill(topics[spec.name], examples(spec), events(spec))
    await fill(naive_topic, examples(HEART), NAIVE_EVENTS)

    results: dict[str, Any] = {}
    for spec in PIPELINES:
        eps, rss = await app_worker(spec, topics[spec.name], events(spec))
        results |= {f"{spec.name}_eps": eps, f"{spec.name}_rss_mb": rss,
                    f"{spec.name}_events": events(spec)}
    heart_topic, heart_events = topics[HEART.name], events(HEART)
    bare = await script("bare_faust", "bench/bare_faust.py", heart_topic, heart_events,
                        faust_app=True)
    batches = await script("bare_batches", "bench/bare_batches.py", heart_topic, heart_events,
                           faust_app=True)
    plain = await script("aiokafka_loop", "bench/aiokafka_loop.py", heart_topic, heart_events,
                         faust_app=False)
    naive = await script("naive_faust", "bench/naive_faust.py", naive_topic, NAIVE_EVENTS,
                         faust_app=True)
    lat = await latency()
    heart_eps = results["heart_eps"]
    return {
        **results, "bare_faust_eps": bare, "aiokafka_eps": plain, "naive_eps": naive,
        "bare_batches_eps": batches,
        "heart_vs_bare": round(heart_eps / bare, 3),
        "heart_vs_aiokafka": round(heart_eps / plain, 3),
        "heart_vs_bare_batches": round(heart_eps / batches, 3),
        **lat, "rss_mb": max(results[f"{spec.name}_rss_mb"] for spec in PIPELINES),
        "naive_events": NAIVE_EVENTS,
    }


def table(r: dict[str, Any]) -> str:
    rows = [
        *((f"{spec.name} pipeline (this app, end to end)", f"{r[f'{spec.name}_eps']:,.0f} events/s")
          for spec in PIPELINES),
        ("bare Faust iteration (framework ceiling)", f"{r['bare_faust_eps']:,.0f} events/s"),
        ("bare batch delivery (this app's ceiling)", f"{r['bare_batches_eps']:,.0f} events/s"),
        ("plain aiokafka batched loop (Python ceiling)", f"{r['aiokafka_eps']:,.0f} events/s"),
        ("naive Faust, one event at a time", f"{r['naive_eps']:,.0f} events/s"),
        ("heart / bare Faust", f"{r['heart_vs_bare']:.2f}"),
        ("heart / bare batch delivery", f"{r['heart_vs_bare_batches']:.2f}"),
        ("heart / aiokafka loop", f"{r['heart_vs_aiokafka']:.2f}"),
        (f"latency at {LATENCY_RATE}/s: p50 / p99 / max",
         f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f} / {r['max_ms']:.0f} ms"),
        *((f"peak RSS, {spec.name} worker (+ its processes)",
           f"{r[f'{spec.name}_rss_mb']:.0f} MB") for spec in PIPELINES),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"| {k:<{width}} | {v:>22} |" for k, v in rows)


if __name__ == "__main__":
    try:
        results = asyncio.run(main())
    finally:
        asyncio.run(delete_run_topics())
    print(table(results))
    print(json.dumps(results))
