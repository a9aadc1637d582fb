"""The review record, decoded from raw UTF-8 text as the demo sends it, or from JSON.

The rule that tells the two apart: a message whose first non-blank character is `{` and
that parses as a JSON object is a structured event and must carry a string field
`text`; every other message is the review text itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust
import numpy as np
import orjson

from schemas.errors import InvalidEvent

DEFAULT_MAX_CHARS = 100_000


class Review(faust.Record, serializer="json"):
    """One review to score."""

    text: str


def decode_review(raw: bytes | None, max_chars: int = DEFAULT_MAX_CHARS) -> Review:
    """Decode a review message; raise InvalidEvent saying why it cannot be scored."""
    if raw is None:
        raise InvalidEvent("empty review: the message has no value")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(
            f"not UTF-8: invalid byte 0x{raw[exc.start]:02x} at position {exc.start}"
        ) from None
    if text.lstrip().startswith("{"):
        text = _text_of_json_event(text)
    if not text.strip():
        raise InvalidEvent("empty review: no text after removing white space")
    if len(text) > max_chars:
        raise InvalidEvent(f"review too long: {len(text)} characters, the limit is {max_chars}")
    return Review(text=text)


def _text_of_json_event(message: str) -> str:
    """The `text` of a JSON event, or the message itself when it is not a JSON object."""
    try:
        payload = orjson.loads(message)
    except orjson.JSONDecodeError:
        return message
    if not isinstance(payload, dict):
        return message
    text = payload.get("text")
    if not isinstance(text, str):
        raise InvalidEvent('JSON event needs a string field "text"')
    return text


def texts(reviews: Sequence[Any]) -> list[str]:
    """The model's input for a batch of decoded reviews."""
    return [review.text for review in reviews]


def drift_columns(batches: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
    """What drift is watched on, over the reviews of several batches: each review's
    length in characters (`models.drift`)."""
    lengths = [len(review) for reviews in batches for review in reviews]
    return {"characters": np.array(lengths, dtype=np.float64)}
