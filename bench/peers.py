"""`make bench-peers`: the seed's DEMO 1 on Spark, measured like the app in `make bench`.

Trains the report's kind of PipelineModel from DATA's heart.csv (once; in
test-output/bench/spark-model), starts the streaming job (`bench/spark_demo.py`,
`local[2]`) and measures, as for the app: events/s from the first to the last answer of
BENCH_HEART_EVENTS pre-sent events (the job reads from the end of its topic, as written,
so they are sent once it answers), p50/p99/max latency at 1,000 events/s, peak RSS of the
driver and its JVM, and what it answers to malformed input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.harness import (
    BOOTSTRAP,
    HEART,
    LOGS,
    RUN,
    clean_up_run,
    create_topics,
    events,
    examples,
    fill,
    latency_figures,
    output_timestamps,
    paced_latency,
    peak_rss_mb,
    span_eps,
    start,
    stop,
    without_warm_up,
)

SPARK_PYTHON = Path(os.environ.get("BENCH_SPARK_PYTHON", ".venvs/spark/bin/python"))
MODEL = LOGS / "spark-model"
LATENCY_SECONDS = 30
#: What the app sends to its dead-letter topic with a reason; what does the job do?
BAD_INPUTS = {b"bad-not-json": b"not json", b"bad-empty": b"{}",
              b"bad-missing-field": b'{"age": 60, "sex": 1}'}


def train(data: Path) -> None:
    if not (MODEL / "metadata").exists():
        proc = start("spark_train", [str(SPARK_PYTHON), "bench/spark_demo.py", "train",
                                     str(data / "heart.csv"), str(MODEL)], {})
        if proc.wait() != 0:
            raise SystemExit(f"training the Spark model failed; see {LOGS}/spark_train-{RUN}.log")


async def run_job(name: str, measure: Any) -> tuple[Any, float]:
    """Start the job on topics of its own, wait for its first answer, then `measure`."""
    source, output = f"bench-{name}-in-{RUN}", f"bench-{name}-out-{RUN}"
    await create_topics(source, outputs=[output])
    with tempfile.TemporaryDirectory() as checkpoint:
        proc = start(name, [str(SPARK_PYTHON), "bench/spark_demo.py", "stream", str(MODEL)],
                     {"BENCH_BOOTSTRAP": BOOTSTRAP, "BENCH_TOPIC": source,
                      "BENCH_OUTPUT": output, "BENCH_CHECKPOINT": checkpoint})
        try:
            result = await measure(source, output)
            return result, peak_rss_mb(proc.pid)
        finally:
            stop(proc)


async def send_until_answered(source: str, output: str, key: bytes, value: bytes) -> None:
    """Send one event each 2 s until the job answers (its start takes 10-20 s)."""
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    try:
        while True:
            await producer.send_and_wait(source, value, key=key)
            try:
                await asyncio.wait_for(output_timestamps(output, 1), 2.0)
                return
            except TimeoutError:
                continue
    finally:
        await producer.stop()


async def throughput(source: str, output: str) -> float:
    await send_until_answered(source, output, b"warm-up", examples(HEART)[0])
    count = events(HEART)
    await fill(source, examples(HEART), count)
    stamps = await output_timestamps(output, count + 1)
    return span_eps(without_warm_up(stamps))


async def latency_and_bad_input(source: str, output: str) -> dict[str, Any]:
    await send_until_answered(source, output, b"warm-up", examples(HEART)[0])
    figures = latency_figures(
        (await paced_latency(source, output, examples(HEART), 1000, LATENCY_SECONDS)).delays)
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    try:
        for key, value in BAD_INPUTS.items():
            await producer.send_and_wait(source, value, key=key)
    finally:
        await producer.stop()
    answers = await _answers_for(output, set(BAD_INPUTS))
    return {**figures, "bad_input": {k.decode(): v for k, v in answers.items()}}


async def _answers_for(output: str, keys: set[bytes]) -> dict[bytes, str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    found: dict[bytes, str] = {}
    try:
        consumer.assign([TopicPartition(output, p) for p in range(4)])
        await consumer.seek_to_beginning()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while set(found) != keys and loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.update({r.key: (r.value or b"").decode() for r in records if r.key in keys})
    finally:
        await consumer.stop()
    return {k: found.get(k, "(no answer within 60 s)") for k in keys}


async def main(data: Path) -> dict[str, Any]:
    train(data)
    eps, rss_throughput = await run_job("spark", throughput)
    timed, rss_latency = await run_job("spark_latency", latency_and_bad_input)
    return {"spark_eps": eps, "spark_p50_ms": timed["p50_ms"], "spark_p99_ms": timed["p99_ms"],
            "spark_max_ms": timed["max_ms"], "spark_rss_mb": max(rss_throughput, rss_latency),
            "spark_bad_input": timed["bad_input"], "spark_events": events(HEART)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with heart.csv")
    args = parser.parse_args()
    try:
        results = asyncio.run(main(args.data))
    finally:
        asyncio.run(clean_up_run())
    print(f"| Spark Structured Streaming 3.5.7, the seed's DEMO 1, local[2] | "
          f"{results['spark_eps']:,.0f} events/s | p50/p99/max "
          f"{results['spark_p50_ms']:.0f} / {results['spark_p99_ms']:.0f} / "
          f"{results['spark_max_ms']:.0f} ms | peak RSS {results['spark_rss_mb']:.0f} MB |")
    for key, answer in results["spark_bad_input"].items():
        print(f"  {key}: {BAD_INPUTS[key.encode()]!r} -> {answer!r}")
    print(json.dumps(results))
