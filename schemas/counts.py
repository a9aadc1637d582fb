"""The count record, defined once: per-label counts keyed "pipeline:label".

A shadow model's figures are counted the same way, under labels that start with
`shadow:<version>:` (`shadow_label`, `SHADOW_AGREED`), so they are as exact and as global
as the live counts, and kept apart from them (`is_shadow`).

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


SHADOW = "shadow"


def shadow_label(version: str, role: str, label: str) -> str:
    """`shadow:<version>:<role>:<label>`: the label the "live" or "shadow" model gave."""
    return f"{SHADOW}:{version}:{role}:{label}"


def shadow_agreed(version: str) -> str:
    """The count of inputs shadow `version` gave the live model's label."""
    return f"{SHADOW}:{version}:agreed"


def is_shadow(label: str) -> bool:
    return label.startswith(SHADOW + ":")


def shadow_figures(counts: dict[str, int], version: str) -> dict[str, Any]:
    """Shadow `version`'s comparison from a pipeline's shadow counts: label counts of both
    models over the same inputs, how many were compared and the share agreed on."""
    labels: dict[str, dict[str, int]] = {"live": {}, "shadow": {}}
    prefix = f"{SHADOW}:{version}:"
    for key, n in counts.items():
        if key.startswith(prefix) and key.count(":") >= 3:
            _, _, role, label = key.split(":", 3)
            labels.setdefault(role, {})[label] = n
    compared = sum(labels["shadow"].values())
    agreed = counts.get(shadow_agreed(version), 0)
    return {"version": version, "compared": compared, "agreed": agreed,
            "agreement": round(agreed / compared, 4) if compared else None,
            "live_labels": labels["live"], "shadow_labels": labels["shadow"]}


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
