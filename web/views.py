"""`/stats`: the label counts this worker's table holds, as JSON."""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response, View

from agents.scoring import DEAD_LETTER
from agents.topics import label_to_count
from app import app


def pipeline_stats(counts: dict[str, int]) -> dict[str, Any]:
    """Group "pipeline:label" totals by pipeline, with dead letters and a total apart."""
    pipelines: dict[str, dict[str, Any]] = {}
    for key, value in sorted(counts.items()):
        name, _, label = key.partition(":")
        entry = pipelines.setdefault(name, {"labels": {}, "dead_letters": 0, "total": 0})
        if label == DEAD_LETTER:
            entry["dead_letters"] = value
        else:
            entry["labels"][label] = value
        entry["total"] += value
    return pipelines


@app.page("/stats")
class Stats(View):
    """Per-pipeline label counts, dead letters and totals."""

    async def get(self, request: Request) -> Response:
        counts = {str(k): int(v) for k, v in label_to_count.items()}
        return self.json({"pipelines": pipeline_stats(counts)})
