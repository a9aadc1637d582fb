"""Heart-disease risk: the demo's JSON patient records in, its risk label out."""

from __future__ import annotations

from typing import Any

import orjson

from models import linear
from pipelines.spec import EXAMPLES, Examples, PipelineSpec, Training
from schemas.heart import (
    LABELS,
    HeartEvent,
    decode_heart_batch,
    decode_heart_event,
    drift_columns,
    feature_rows,
)


def _message(row: dict[str, Any]) -> bytes:
    """A data-set row as the demo's JSON record, without its `target`."""
    return orjson.dumps({k: v for k, v in row.items() if k != "target"})


pipeline = PipelineSpec(
    name="heart",
    record=HeartEvent,
    decode=decode_heart_event,
    features=feature_rows,
    decode_batch=decode_heart_batch,
    labels=LABELS,
    model_file="heart.joblib",
    fast_form=linear.fast_form,
    probe=linear.probe_rows,
    drift_columns=drift_columns,
    examples=Examples(EXAMPLES / "heart_patients.jsonl", _message, numeric_csv=True),
    training=Training("models.heart"),
    bench_events=100_000,
)
