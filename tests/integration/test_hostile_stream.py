"""A fuzz run on the real broker: hostile messages on both input topics, valid ones between.

Each message's fate is predicted with the decoder itself (whose properties the unit tests
check with hypothesis); here the claim is that the running worker routes every message
there, exactly once, with the reason attached, and never stops.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas.errors import InvalidEvent
from schemas.heart import decode_heart_event
from schemas.sentiment import decode_review
from tests.examples import fixture_reviews, heart_record
from tests.hostile import hostile_heart, hostile_review, near_max_heart, near_max_review
from tests.integration.conftest import OUTPUT, Worker, make_worker
from tests.integration.kafka_io import produce, read_until, wait_for

HOSTILE = 1500  # per input topic
VALID_EVERY = 3  # one valid message after every three hostile ones
NULL_KEY_SHARE = 0.1

Message = tuple[bytes | None, bytes | None]


def _stream(rng: random.Random, run: str, hostile: Callable[[random.Random, int], bytes | None],
            valid: Callable[[int], bytes], near_max: bytes) -> list[Message]:
    messages: list[Message] = []
    for i in range(HOSTILE):
        value = hostile(rng, i)
        null_key = value is not None and rng.random() < NULL_KEY_SHARE  # one of them is needed
        messages.append((None if null_key else f"{run}-h{i}".encode(), value))
        if i % VALID_EVERY == 0:
            messages.append((f"{run}-v{i}".encode(), valid(i)))
    messages.insert(len(messages) // 2, (f"{run}-max".encode(), near_max))
    return messages


def _fate(decode: Callable[[bytes | None], Any], value: bytes | None) -> str | None:
    """None when the message must be answered, else the reason it must carry."""
    try:
        decode(value)
    except InvalidEvent as exc:
        return exc.reason
    return None


async def _check(bootstrap: str, worker: Worker, messages: list[Message],
                 decode: Callable[[bytes | None], Any], output: str, dlq: str,
                 name: str) -> dict[str, int]:
    fates = [_fate(decode, value) for _, value in messages]
    answered = [m for m, f in zip(messages, fates, strict=True) if f is None]
    rejected = [(m, f) for m, f in zip(messages, fates, strict=True) if f is not None]
    keyed_answers = {k for k, _ in answered if k is not None}
    null_answers = sum(1 for k, _ in answered if k is None)
    keys = {k for k, _ in messages if k is not None}

    outs = await read_until(bootstrap, output, lambda rs: len(
        [r for r in rs if r.key in keys or r.key is None]) >= len(answered), timeout=120)
    dead = await read_until(bootstrap, dlq, lambda rs: len(
        [r for r in rs if r.key in keys or r.key is None]) >= len(rejected), timeout=120)
    mine_out = [r for r in outs if r.key in keys or r.key is None]
    mine_dead = [r for r in dead if r.key in keys or r.key is None]
    assert Counter(r.key for r in mine_out if r.key is not None) == Counter(keyed_answers)
    assert sum(1 for r in mine_out if r.key is None) == null_answers
    want_dead = Counter((k, v, reason) for (k, v), reason in rejected)
    got_dead = Counter((r.key, r.value, dict(r.headers)["error.reason"].decode())
                       for r in mine_dead)
    assert got_dead == want_dead  # each bad message once, original bytes, the right reason

    def counted() -> tuple[int, int]:
        stats = worker.stats()["pipelines"].get(name, {"labels": {}, "dead_letters": 0})
        return sum(stats["labels"].values()), stats["dead_letters"]

    await wait_for(lambda: counted() == (len(answered), len(rejected)),
                   f"{name} stats to count {len(answered)} answers, {len(rejected)} dead letters",
                   timeout=60)
    return {"sent": len(messages), "answered": len(answered), "dead_lettered": len(rejected),
            "null_keys": sum(1 for k, _ in messages if k is None)}


async def test_hostile_streams_never_stop_the_worker(bootstrap: str, tmp_path: Path) -> None:
    worker = make_worker(bootstrap, tmp_path, "hostile")
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    sentiment_pipe = s.pipeline("sentiment")
    rng = random.Random(20_261_125)
    run = f"fz{rng.randrange(10**6)}"
    reviews = [t.encode() for t, _ in fixture_reviews()]
    heart = _stream(rng, run, hostile_heart, heart_record, near_max_heart())
    sentiment = _stream(rng, run, hostile_review, lambda i: reviews[i % len(reviews)],
                        near_max_review())
    worker.start()
    try:
        await produce(bootstrap, heart_pipe.input_topic, heart)
        await produce(bootstrap, sentiment_pipe.input_topic, sentiment)
        figures = {
            "heart": await _check(bootstrap, worker, heart, decode_heart_event,
                                  heart_pipe.output_topic, heart_pipe.dlq_topic, "heart"),
            "sentiment": await _check(
                bootstrap, worker, sentiment,
                lambda raw: decode_review(raw, max_chars=sentiment_pipe.options["max_chars"]),
                sentiment_pipe.output_topic, sentiment_pipe.dlq_topic, "sentiment"),
        }
        await wait_for(lambda: worker.process is not None and worker.process.poll() is None,
                       "the worker to be running")
        OUTPUT.mkdir(exist_ok=True)
        (OUTPUT / "hostile-figures.json").write_text(json.dumps(figures))
    finally:
        worker.stop()
