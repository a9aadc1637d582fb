"""The first step of every JSON decoder: bytes to a JSON object, or a reason why not."""

from __future__ import annotations

from typing import Any

import orjson

from schemas.errors import InvalidEvent


def json_object(raw: bytes | None) -> dict[str, Any]:
    """The JSON object a message holds; InvalidEvent naming what it holds instead."""
    if raw is None or raw.strip() == b"":
        raise InvalidEvent("empty message")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidEvent(f"expected a JSON object, got {kind(payload)}")
    return payload


def kind(value: Any) -> str:
    """A JSON-flavoured name for the type of `value`, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
