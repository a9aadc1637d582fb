"""`make bench-soak`: one heart worker under a steady offered load for ten minutes.

Offers BENCH_SOAK_RATE events/s (5,000) for BENCH_SOAK_SECONDS (600) and reports the
consumer lag sampled each second, the latency of every answer (its broker timestamp minus
the moment its input was sent, carried in the key), the worker's busy share (seconds in
batches over wall seconds, from /metrics), its RSS, and the ERROR lines in its log.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import urllib.request
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.harness import (
    BOOTSTRAP,
    HEART,
    HEART_MODULE,
    LOGS,
    PARTITIONS,
    RUN,
    Worker,
    clean_up_run,
    create_topics,
    examples,
    peak_rss_mb,
    stop,
)

RATE = int(os.environ.get("BENCH_SOAK_RATE", "5000"))
SECONDS = int(os.environ.get("BENCH_SOAK_SECONDS", "600"))


async def offer(topic: str, stopped: asyncio.Event) -> int:
    """Send RATE events/s for SECONDS; each key carries its send time in ms."""
    values = examples(HEART)
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=1, acks=1)
    await producer.start()
    sent = 0
    try:
        started = time.monotonic()
        pending = []
        while sent < RATE * SECONDS:
            delay = started + sent / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            key = f"{sent}:{int(time.time() * 1000)}".encode()
            pending.append(await producer.send(topic, values[sent % len(values)], key=key))
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
        stopped.set()
    return sent


async def answers(topic: str, expected: int, delays: Counter[int]) -> None:
    """Count each answer's latency (ms) until `expected` have come."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    seen = 0
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        while seen < expected:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    sent_ms = int((r.key or b"0:0").split(b":")[1])
                    delays[max(0, r.timestamp - sent_ms)] += 1
                    seen += 1
    finally:
        await consumer.stop()


async def sample_lag(group: str, topic: str, stopped: asyncio.Event, lags: list[int]) -> None:
    """The group's lag on `topic`, once a second, until the offer has ended."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    try:
        while not stopped.is_set():
            ends = await consumer.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            lags.append(sum(ends[tp] - max(0, committed[tp].offset if tp in committed else 0)
                            for tp in partitions))
            await asyncio.sleep(1.0)
    finally:
        await consumer.stop()
        await admin.close()


def percentile(delays: Counter[int], q: float) -> float:
    total = sum(delays.values())
    running = 0
    for ms in sorted(delays):
        running += delays[ms]
        if running >= q * total:
            return float(ms)
    return float("nan")


def busy_seconds(port: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = re.search(r'inference_batch_seconds_sum\{pipeline="heart"\} ([0-9.e+]+)', text)
    return float(found.group(1)) if found else 0.0


async def main() -> dict[str, Any]:
    source, output = f"bench-soak-in-{RUN}", f"bench-soak-out-{RUN}"
    await create_topics(source, outputs=[output])
    worker = Worker.of("soak", HEART_MODULE, source, output)
    proc = worker.start()
    delays: Counter[int] = Counter()
    lags: list[int] = []
    rss: list[float] = []
    stopped = asyncio.Event()
    try:
        while not worker.owned():
            await asyncio.sleep(0.3)
        started = time.monotonic()
        busy_before = busy_seconds(worker.env["WEB_PORT"])
        sampling = asyncio.ensure_future(sample_lag(worker.env["APP_ID"], source, stopped, lags))
        reading = asyncio.ensure_future(answers(output, RATE * SECONDS, delays))
        offering = asyncio.ensure_future(offer(source, stopped))
        while not stopped.is_set():
            rss.append(peak_rss_mb(proc.pid))
            await asyncio.sleep(60)
        await offering
        await reading
        wall = time.monotonic() - started
        busy = busy_seconds(worker.env["WEB_PORT"]) - busy_before
        rss.append(peak_rss_mb(proc.pid))
        await sampling
    finally:
        stop(proc)
    log = (LOGS / f"soak-{RUN}.log").read_text(errors="replace")
    return {
        "soak_rate": RATE, "soak_seconds": SECONDS, "soak_events": sum(delays.values()),
        "soak_max_lag": max(lags), "soak_p50_ms": percentile(delays, 0.5),
        "soak_p99_ms": percentile(delays, 0.99), "soak_max_ms": float(max(delays)),
        "soak_busy_share": round(busy / wall, 3),
        "soak_error_lines": len(re.findall(r"\[(ERROR|CRITICAL)\]", log)),
        "soak_rss_mb_each_minute": rss, "soak_peak_rss_mb": max(rss),
    }


if __name__ == "__main__":
    try:
        results = asyncio.run(main())
    finally:
        asyncio.run(clean_up_run())
    for key, value in results.items():
        print(f"{key:24} {value}")
    print(json.dumps(results))
