"""Framework ceiling: a Faust agent that only iterates the events in batches."""

from __future__ import annotations

import os
import time
from pathlib import Path

import faust

app = faust.App(os.environ["BENCH_APP_ID"], broker=os.environ["BROKER_URL"],
                store="memory://", web_enabled=False)
source = app.topic(os.environ["BENCH_TOPIC"], value_type=bytes, key_type=bytes,
                   value_serializer="raw", key_serializer="raw")
EXPECTED = int(os.environ["BENCH_EVENTS"])
BATCH = int(os.environ.get("BATCH_SIZE", "500"))


@app.agent(source)
async def iterate(stream: faust.StreamT[bytes]) -> None:
    seen = 0
    first = 0.0
    async for events in stream.take_events(BATCH, within=0.01):  # type: ignore[attr-defined]
        first = first or time.monotonic()
        seen += len(events)
        if seen >= EXPECTED:
            Path(os.environ["BENCH_RESULT"]).write_text(str(seen / (time.monotonic() - first)))
