"""A batch of messages decoded: the model input of the valid ones, the reasons of the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.errors import InvalidEvent


@dataclass(frozen=True)
class DecodedBatch:
    """`features` holds the model input of the messages at `valid` (ascending indexes);
    `rejected` holds (index, reason) of every other message."""

    features: Any
    valid: list[int]
    rejected: list[tuple[int, str]]


def decode_each(decode: Callable[[bytes | None], Any],
                features: Callable[[Sequence[Any]], Any],
                raws: Sequence[bytes | None]) -> DecodedBatch:
    """Decode message by message into records, then turn the valid ones into model input."""
    records: list[Any] = []
    valid: list[int] = []
    rejected: list[tuple[int, str]] = []
    for index, raw in enumerate(raws):
        try:
            records.append(decode(raw))
            valid.append(index)
        except InvalidEvent as exc:
            rejected.append((index, exc.reason))
    return DecodedBatch(features(records) if records else None, valid, rejected)
