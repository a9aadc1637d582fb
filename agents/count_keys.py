"""How per-label counts are keyed in the counts table ("pipeline:label"), and sent to it."""

from __future__ import annotations

import json

DEAD_LETTER = "dead_letter"


def count_key(pipeline: str, label: str) -> str:
    """The table key under which a pipeline's label is counted."""
    return f"{pipeline}:{label}"


def split_count_key(key: str) -> tuple[str, str]:
    """(pipeline, label) of a table key."""
    pipeline, _, label = key.partition(":")
    return pipeline, label


def count_delta(pipeline: str, label: str, n: int) -> tuple[bytes, bytes]:
    """(key, value) of a counts-topic record adding `n` to a label, as its Faust topic reads it."""
    return count_key(pipeline, label).encode(), json.dumps(n).encode()
