"""Seeded generators of hostile messages for the fuzz run against a real worker."""

from __future__ import annotations

import random

import orjson

from tests.examples import fixture_reviews, heart_record

NEAR_MAX_BYTES = 1_048_000  # just under the broker's default message.max.bytes (1,048,588)

_BAD_NUMBERS = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1" + b"0" * 400,
                b"99999999999999999999", b"null", b"true", b'"60"', b"[60]", b'{"v": 60}',
                b'""']


def _random_bytes(rng: random.Random) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))


def hostile_heart(rng: random.Random, i: int) -> bytes | None:
    """One malformed (or, by chance, valid) heart message."""
    record = heart_record(i)
    kind = rng.randrange(10)
    if kind == 0:
        return _random_bytes(rng)
    if kind == 1:
        return b"\xff\xfe" + record[2:]
    if kind == 2:
        return rng.choice([b"[1, 2]", b"42", b'"a string"', b"null", b"true", b"{}"])
    if kind in (3, 4):  # one field made hostile
        field = rng.choice([b'"age":', b'"oldpeak":', b'"ST slope":', b'"cholesterol":'])
        start = record.index(field) + len(field)
        end = min(p for p in (record.find(b",", start), record.find(b"}", start)) if p > 0)
        return record[:start] + rng.choice(_BAD_NUMBERS) + record[end:]
    if kind == 5:
        depth = rng.randrange(500, 5000)
        return b"[" * depth + b"]" * depth
    if kind == 6:
        return rng.choice([b"", b"   ", b"\n", None])
    if kind == 7:  # a field missing
        payload = orjson.loads(record)
        payload.pop(rng.choice(list(payload)))
        return orjson.dumps(payload)
    if kind == 8:
        return record[: rng.randrange(1, len(record))]  # cut short
    return record.replace(b"{", b'{"extra": {"deep": [1, {"x": null}]}, ', 1)  # valid, noisy


def hostile_review(rng: random.Random, i: int) -> bytes | None:
    """One malformed (or, by chance, valid) review message."""
    kind = rng.randrange(8)
    if kind == 0:
        return _random_bytes(rng)
    if kind == 1:
        return b"great film \xc3\x28 truly"
    if kind == 2:
        return rng.choice([b"", b"   \t\n", None])
    if kind == 3:
        return orjson.dumps({"text": rng.choice([None, 5, 1.5, [], {}, True])})
    if kind == 4:
        return b'{"text": "' + b"[" * rng.randrange(10, 3000) + b'"}'
    if kind == 5:
        return b"\xed\xa0\x80 lone surrogate"
    if kind == 6:
        return "ünïcödé ✓ ﾃｽﾄ \u202e reversed".encode()
    text, _ = fixture_reviews()[i % len(fixture_reviews())]
    return text.encode()


def near_max_heart() -> bytes:
    return b'{"age": "' + b"x" * (NEAR_MAX_BYTES - 11) + b'"}'


def near_max_review() -> bytes:
    return b"a " * (NEAR_MAX_BYTES // 2)
