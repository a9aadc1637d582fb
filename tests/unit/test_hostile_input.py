"""Property tests: whatever arrives, decoding either gives a scorable event or a reason.

Any other exception would reach the scoring loop, which ends the worker; so the property
is exactly "returns an event the model accepts, or raises InvalidEvent".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.settings import DEFAULT_MODEL_DIR
from models import linear, text
from models.artifacts import load_model
from models.predictions import predictions
from schemas.errors import InvalidEvent
from schemas.heart import (
    FEATURE_KEYS,
    HEART_FIELDS,
    LABELS,
    decode_heart_batch,
    decode_heart_event,
    feature_rows,
)
from schemas.sentiment import decode_review
from tests.examples import HEART_LABELS, SENTIMENT_LABELS

EXAMPLES = 1500
HEART = linear.fast_form(load_model(DEFAULT_MODEL_DIR / "heart.joblib").estimator)
SENTIMENT = load_model(DEFAULT_MODEL_DIR / "sentiment.joblib").estimator
MAX_CHARS = 2000

hostile_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)
hostile_values = st.recursive(hostile_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
heart_keys = st.sampled_from([*FEATURE_KEYS, *(f.name for f in HEART_FIELDS), "", "AGE"])
plausible_numbers = st.one_of(st.integers(-5, 1500), st.floats(-20, 1500))
heart_objects = st.dictionaries(heart_keys, st.one_of(plausible_numbers, hostile_values),
                                max_size=14)
#: Records with every field, valid or with one field spoiled: the batch decoder's fast path.
def _field_value(spec: Any) -> st.SearchStrategy[Any]:
    if spec.codes is not None:
        return st.sampled_from(sorted(spec.codes))
    return st.one_of(st.integers(int(spec.low), int(spec.high)),
                     st.floats(spec.low, spec.high), st.sampled_from(sorted(spec.also) or [1]))


valid_records = st.fixed_dictionaries({f.json_key: _field_value(f) for f in HEART_FIELDS})
whole_records = st.one_of(valid_records, st.tuples(
    valid_records, heart_keys, st.one_of(plausible_numbers, hostile_scalars)).map(
    lambda t: {**t[0], t[1]: t[2]}))


def _as_json(value: Any) -> bytes:
    """JSON text as a hostile producer might write it (NaN and huge numbers included)."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return repr(value).encode()


def _heart_outcome(raw: bytes | None) -> str:
    try:
        event = decode_heart_event(raw)
    except InvalidEvent as exc:
        assert exc.reason, "a rejection must say why"
        return "rejected"
    features = event.features()
    assert all(math.isfinite(v) for v in features)
    for spec, value in zip(HEART_FIELDS, features, strict=True):
        assert spec.low <= value <= spec.high or value in spec.also
    assert HEART is not None, "the shipped heart model has a verified fast form"
    [label] = predictions(HEART(feature_rows([event])), LABELS).labels
    assert label in HEART_LABELS
    return "answered"


def _review_outcome(raw: bytes | None) -> str:
    try:
        review = decode_review(raw, max_chars=MAX_CHARS)
    except InvalidEvent as exc:
        assert exc.reason, "a rejection must say why"
        return "rejected"
    assert review.text.strip() and len(review.text) <= MAX_CHARS
    [label] = predictions(SENTIMENT.predict_proba([review.text]), text.LABELS).labels
    assert label in SENTIMENT_LABELS
    return "answered"


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.one_of(st.none(), st.binary(max_size=300)))
def test_heart_any_bytes(raw: bytes | None) -> None:
    _heart_outcome(raw)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(heart_objects, hostile_values))
def test_heart_any_json(value: Any) -> None:
    _heart_outcome(_as_json(value))


@settings(max_examples=EXAMPLES // 3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(whole_records.map(_as_json), heart_objects.map(_as_json),
                          st.binary(max_size=60), st.none()), max_size=40))
def test_heart_batch_decoding_agrees_with_each_message(raws: list[bytes | None]) -> None:
    batch = decode_heart_batch(raws)
    valid, rows, rejected = [], [], []
    for index, raw in enumerate(raws):
        try:
            rows.append(decode_heart_event(raw).features())
            valid.append(index)
        except InvalidEvent as exc:
            rejected.append((index, exc.reason))
    assert (batch.valid, batch.rejected) == (valid, rejected)
    assert np.array_equal(batch.features,
                          np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_KEYS)))


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.one_of(st.none(), st.binary(max_size=300),
                 st.text(max_size=3000).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_review_any_bytes_or_text(raw: bytes | None) -> None:
    _review_outcome(raw)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(hostile_values, st.dictionaries(st.sampled_from(["text", "Text", "review"]),
                                                 hostile_values, max_size=3)))
def test_review_any_json(value: Any) -> None:
    _review_outcome(_as_json(value))


def test_deep_nesting_and_huge_numbers_are_rejected_with_a_reason() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    deep_object = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    for raw in (deep, deep_object, b'{"age": 1e400}', b'{"age": NaN}', b'{"age": Infinity}',
                b'{"age": ' + b"9" * 5000 + b"}"):
        assert _heart_outcome(raw) == "rejected"
    assert _review_outcome(b'{"text": ' + b"[" * 500 + b"]" * 500 + b"}") == "rejected"
    assert _review_outcome(b"[" * 1500) == "answered"  # not an object: the text itself
