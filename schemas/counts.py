"""The count record, defined once: per-label counts keyed "pipeline:label".

Three parties use it: the scoring agents send count deltas (`delta`), the counting agent
reads them into the table (`DELTA_TOPIC`, `TABLE`), and every dashboard reads the
table's changelog back (`changelog_entry`). The formats below are what Faust writes and
reads with the serializers named here.
"""

from __future__ import annotations

from typing import Any

import orjson

DEAD_LETTER = "dead_letter"

#: How the deltas topic is declared: the key is the count key's text, the value a JSON int.
DELTA_TOPIC: dict[str, Any] = {"key_type": str, "key_serializer": "raw",
                               "value_type": int, "value_serializer": "json"}
#: How the table is declared: Faust writes its changelog's keys and values as JSON.
TABLE: dict[str, Any] = {"key_type": str, "value_type": int, "default": int}


def count_key(pipeline: str, label: str) -> str:
    """The table key under which a pipeline's label is counted."""
    return f"{pipeline}:{label}"


def split_count_key(key: str) -> tuple[str, str]:
    """(pipeline, label) of a table key."""
    pipeline, _, label = key.partition(":")
    return pipeline, label


def delta(pipeline: str, label: str, n: int) -> tuple[bytes, bytes]:
    """(key, value) of a deltas-topic record adding `n` to a label."""
    return count_key(pipeline, label).encode(), orjson.dumps(n)


def changelog_entry(key: bytes, value: bytes | None) -> tuple[str, int | None]:
    """(count key, total) of a table changelog record; None for a deleted key."""
    return str(orjson.loads(key)), None if value is None else int(orjson.loads(value))
