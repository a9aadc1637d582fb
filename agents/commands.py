"""App commands: `faust -A app create-topics`, `faust -A app replay`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click
from aiokafka import AIOKafkaProducer

from agents.replay_source import Progress, paced, read_messages
from app import app
from transport.security import client_options

logger = logging.getLogger(__name__)


@app.command()
async def create_topics() -> None:
    """Create every topic the app uses (idempotent), so several workers can share them."""
    ready = await app.create_topics()
    for name in ready.created:
        print(f"created {name}")
    print(f"{len(ready.created)} topics created ({ready.replication.factor} replicas"
          + (f", min.insync.replicas {ready.replication.min_insync}"
             if ready.replication.min_insync else "") + "); the others already existed")


@app.command(
    click.argument("pipeline", type=click.Choice(
        [p.name for p in app.settings.pipelines if p.spec.examples])),
    click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="JSONL, CSV or .txt file (default: the shipped examples)"),
    click.option("--rate", type=float, default=0.0, show_default=True,
                 help="messages per second; 0 sends as fast as possible"),
    click.option("--count", type=int, default=None,
                 help="how many to send, cycling through the file (default: the file once)"),
    click.option("--topic", default=None, help="target topic (default: the pipeline's input)"),
)
async def replay(self: object, pipeline: str, path: Path | None, rate: float,
                 count: int | None, topic: str | None) -> None:
    """Produce a file's records to a pipeline's input topic, with a progress bar."""
    settings = app.settings
    chosen = settings.pipeline(pipeline)
    if chosen.spec.examples is None:
        raise click.UsageError(f"{pipeline} declares no examples to replay")
    messages = read_messages(chosen.spec.examples, path)
    if not messages:
        raise click.UsageError("the file holds no records")
    target = topic or chosen.input_topic
    total = count if count is not None else len(messages)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                                enable_idempotence=True, linger_ms=5,
                                **client_options(settings))
    await producer.start()
    progress = Progress(total)
    sent = 0
    try:
        pending = []
        async for i in paced(total, rate):
            pending.append(await producer.send(target, messages[i % len(messages)],
                                               key=f"replay-{i}".encode()))
            sent = i + 1
            progress.update(sent)
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        progress.close(sent)
        await producer.stop()
    print(f"sent {sent} {pipeline} messages to {target}")
