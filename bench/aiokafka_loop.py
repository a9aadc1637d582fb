"""Python ceiling: a plain aiokafka loop, getmany -> decode -> one batched predict -> produce
-> commit, with the same model, decoder and answer records (provenance headers) as the app."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from models.artifacts import load_model
from models.linear import fast_form
from models.predictions import predictions
from schemas.answers import answer_headers, model_headers
from schemas.heart import LABELS, decode_heart_batch
from transport.sink import OutRecord, send_records


async def main() -> None:
    shipped = load_model(Path(__file__).resolve().parents[1] / "models" / "heart.joblib")
    provenance = model_headers(shipped.name, shipped.version)
    model = fast_form(shipped.estimator)
    assert model is not None, "the shipped heart model has a verified fast form"
    bootstrap = os.environ["BROKER_URL"].removeprefix("kafka://")
    expected = int(os.environ["BENCH_EVENTS"])
    consumer = AIOKafkaConsumer(os.environ["BENCH_TOPIC"], bootstrap_servers=bootstrap,
                                group_id=os.environ["BENCH_APP_ID"], enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=4 << 20)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5, max_batch_size=1 << 20)
    await consumer.start()
    await producer.start()
    seen = 0
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=100, max_records=2000)
            records = [r for rs in batches.values() for r in rs]
            if not records:
                continue
            # The benchmark's events are all valid: a bad one stops the run loudly.
            decoded = decode_heart_batch([r.value for r in records])
            predicted = predictions(model(decoded.features), LABELS)
            out = [OutRecord(r.partition, r.key, label.encode(),
                             answer_headers(provenance, score, r.partition, r.offset))
                   for r, label, score in zip(records, predicted.labels, predicted.scores,
                                              strict=True)]
            await asyncio.gather(*await send_records(producer, os.environ["BENCH_OUTPUT"], out))
            await consumer.commit()
            seen += len(records)
    finally:
        await producer.stop()
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main())
