"""Quix Streams scoring the heart stream, in the two forms a user would pick it up in.

    python bench/quix_contender.py fast|documented

- `fast`: the fastest per-message form we could write: the raw bytes decoded with orjson,
  the app's field checks, the shipped model's linear form evaluated in plain Python for
  the one row, bad input to `<output>-dlq` with the reason in a header, and each answer
  with the app's provenance headers (`schemas.answers`), so both write the same records.
- `documented`: as Quix's docs show ML: JSON in, the fitted scikit-learn pipeline's
  `predict` on one row per message in `sdf.apply`.

Runs until stopped, like a worker; the bench reads its output topic. Settings from the
environment: BROKER_URL, BENCH_APP_ID (consumer group), BENCH_TOPIC, BENCH_OUTPUT.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
from quixstreams import Application, message_context

from models.artifacts import load_model
from models.linear import compile_heart, logistic
from schemas.answers import Header, answer_headers, model_headers
from schemas.errors import InvalidEvent
from schemas.heart import FEATURE_KEYS, FEATURE_VALUES, LABELS, row_passes

MODEL_INFO = load_model(Path(__file__).resolve().parents[1] / "models" / "heart.joblib")
MODEL = MODEL_INFO.estimator
NO_RISK, RISK = (label.encode() for label in LABELS)


def fast(app: Application, source: Any, output: Any, dlq: Any) -> None:
    linear = compile_heart(MODEL)
    assert linear is not None, "the shipped heart model has a linear form"
    decision = linear.scalar.decision
    reason: list[bytes] = []  # the current message's, for its headers and topic
    answered: list[Header] = []  # the current answer's provenance
    provenance = model_headers(MODEL_INFO.name, MODEL_INFO.version)

    def score(raw: bytes) -> bytes:
        reason.clear()
        answered.clear()
        try:
            row = FEATURE_VALUES(orjson.loads(raw))
        except (ValueError, TypeError, KeyError):
            row = None
        if row is None or not row_passes(row):
            reason.append(_reason(raw).encode())
            return raw
        z = decision(row)
        risk = logistic(z)
        context = message_context()
        answered.extend(answer_headers(provenance, risk if z >= 0 else 1.0 - risk,
                                       context.partition, context.offset))
        return RISK if z >= 0 else NO_RISK

    sdf = app.dataframe(source).apply(score)
    sdf = sdf.set_headers(lambda value, key, timestamp, headers:
                          [("error.reason", reason[0])] if reason else list(answered))
    sdf.to_topic(lambda value, key, timestamp, headers: dlq if reason else output)


def _reason(raw: bytes) -> str:
    """The app's own reason for a message the fast checks turned away."""
    from schemas.heart import decode_heart_event

    try:
        decode_heart_event(raw)
    except InvalidEvent as exc:
        return exc.reason
    return "not the demo's spaced keys"


def documented(app: Application, source: Any, output: Any, dlq: Any) -> None:
    def predict(row: dict[str, Any]) -> str:
        return LABELS[int(MODEL.predict([[row[key] for key in FEATURE_KEYS]])[0])]

    app.dataframe(source).apply(predict).to_topic(output)


def main() -> None:
    form = {"fast": fast, "documented": documented}[sys.argv[1]]
    app = Application(broker_address=os.environ["BROKER_URL"].removeprefix("kafka://"),
                      consumer_group=os.environ["BENCH_APP_ID"], auto_offset_reset="earliest",
                      state_dir=tempfile.mkdtemp(prefix="quix-state-"))
    raw = "bytes" if form is fast else "json"
    source = app.topic(os.environ["BENCH_TOPIC"], key_deserializer="bytes",
                       value_deserializer=raw)
    out_format = "bytes" if form is fast else "str"
    output = app.topic(os.environ["BENCH_OUTPUT"], key_serializer="bytes",
                       value_serializer=out_format)
    dlq = app.topic(os.environ["BENCH_OUTPUT"] + "-dlq", key_serializer="bytes",
                    value_serializer="bytes")
    form(app, source, output, dlq)
    app.run()


if __name__ == "__main__":
    main()
