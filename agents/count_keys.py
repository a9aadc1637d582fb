"""How per-label counts are keyed in the counts table: "pipeline:label"."""

from __future__ import annotations

DEAD_LETTER = "dead_letter"


def count_key(pipeline: str, label: str) -> str:
    """The table key under which a pipeline's label is counted."""
    return f"{pipeline}:{label}"


def split_count_key(key: str) -> tuple[str, str]:
    """(pipeline, label) of a table key."""
    pipeline, _, label = key.partition(":")
    return pipeline, label
