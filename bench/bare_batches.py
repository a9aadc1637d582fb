"""This app's delivery ceiling: the same fetched batches the scoring agents get, only acked."""

from __future__ import annotations

import os
import time
from pathlib import Path

import faust
from faust.types import Message

from config.settings import FETCH_LINGER_MS, FETCH_MAX_BYTES, FETCH_MAX_PARTITION_BYTES
from transport.faust_internals import BatchDeliveringApp

app = BatchDeliveringApp(os.environ["BENCH_APP_ID"], broker=os.environ["BROKER_URL"],
                         store="memory://", web_enabled=False, fetch_max_bytes=FETCH_MAX_BYTES,
                         fetch_linger_ms=FETCH_LINGER_MS,
                         consumer_max_fetch_size=FETCH_MAX_PARTITION_BYTES)
source = app.topic(os.environ["BENCH_TOPIC"], value_type=bytes, key_type=bytes,
                   value_serializer="raw", key_serializer="raw")
EXPECTED = int(os.environ["BENCH_EVENTS"])


@app.agent(app.batch_channel(source))
async def iterate(batches: faust.StreamT[list[Message]]) -> None:
    seen = 0
    first = 0.0
    async for messages in batches:
        first = first or time.monotonic()
        for message in messages:
            app.consumer.ack(message)
        seen += len(messages)
        if seen >= EXPECTED:
            Path(os.environ["BENCH_RESULT"]).write_text(str(seen / (time.monotonic() - first)))
