"""The worker's web view: the live dashboard at `/`, its data at `/stats`, `/metrics`."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents import metrics
from agents.pipeline_agents import SCORERS
from agents.recent import RECENT
from agents.scoring import Scorer
from agents.topics import label_to_count
from app import app
from schemas.counts import shadow_figures
from transport.security import client_options
from web.monitor import Monitor, PipelineTopics

PROMETHEUS_TYPE = CONTENT_TYPE_LATEST.split(";")[0]
DASHBOARD = Path(__file__).resolve().parent / "static" / "dashboard.html"
settings = app.settings

monitor = Monitor(
    bootstrap=settings.bootstrap_servers,
    client_options=client_options(settings),
    group_id=settings.app_id,
    changelog_topic=label_to_count.changelog_topic.get_topic_name(),
    pipelines=[PipelineTopics(p.name, p.input_topic, p.output_topic, p.dlq_topic)
               for p in settings.pipelines],
    committed_only=settings.processing_guarantee == "exactly_once",
)


@app.task  # type: ignore[untyped-decorator]
async def follow_totals() -> None:
    """Keep the global view of totals and lag fresh while the worker runs."""
    await monitor.run()


def model_summary(scorer: Scorer) -> dict[str, Any]:
    """What the dashboard shows of a model: no paths, nothing secret."""
    m = scorer.model.manifest
    metrics = {k: v for k, v in m.get("metrics", {}).items() if isinstance(v, int | float)}
    return {
        "file": m.get("file"),
        "version": scorer.model.version,
        "runs_in": scorer.predictor.where,
        "estimator": m.get("estimator"),
        "sklearn_version": m.get("sklearn_version"),
        "sha256": str(m.get("sha256", ""))[:12],
        "created_at": m.get("created_at"),
        "evaluation": m.get("metrics", {}).get("evaluation"),
        "metrics": metrics,
    }


def stats() -> dict[str, Any]:
    """The whole /stats document; its fields are documented in the README."""
    pipelines = monitor.snapshot()
    for name, live in SCORERS.items():
        pipeline = pipelines[name]
        pipeline["model"] = model_summary(live.scorer) | {
            "seconds_per_batch": _rounded(metrics.mean(metrics.INFERENCE_SECONDS, name))}
        shadow_counts = pipeline.pop("shadow_counts")
        pipeline["shadow"] = None if live.shadow is None else (
            model_summary(live.shadow)
            | shadow_figures(shadow_counts, live.shadow.model.version)
            | {"seconds_per_batch": _rounded(metrics.mean(metrics.SHADOW_MODEL_SECONDS, name))})
        drift = live.scorer.drift
        pipeline["drift"] = None if drift is None else drift.summary()
        pipeline["history"] = _history(name)
        pipeline["dead_letter_reasons"] = [{"reason": reason, "count": n}
                                           for reason, n in RECENT.top_reasons(name)]
    inputs = {p["topics"]["input"] for p in pipelines.values()}
    assigned: dict[str, list[int]] = {}
    for tp in app.consumer.assignment():
        if tp.topic in inputs:
            assigned.setdefault(tp.topic, []).append(tp.partition)
    return {
        "app_id": settings.app_id,
        "processing_guarantee": settings.processing_guarantee,
        "worker": {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "rebalancing": bool(app.rebalancing),
            "assigned": {t: sorted(ps) for t, ps in sorted(assigned.items())},
            "local_counts": {str(k): int(v) for k, v in label_to_count.items()},
        },
        "pipelines": pipelines,
        "updated_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def _history(pipeline: str) -> list[dict[str, float | None]]:
    """Per 10-second slot of the last ten minutes: global events/s, this worker's p99."""
    rates = monitor.view.rates(pipeline)
    slots = RECENT.latency.get(pipeline)
    p99 = {} if slots is None else slots.p99_ms()
    return [{"t": t, "events_per_second": None if t not in rates else round(rates[t], 1),
             "p99_ms": p99.get(t)} for t in sorted(set(rates) | set(p99))]


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 6)


@app.page("/stats")
class Stats(View):
    """Global per-pipeline totals, rates, lag and models, as JSON."""

    async def get(self, request: Request) -> Response:
        return self.json(stats())


@app.page("/metrics")
class Metrics(View):
    """This worker's counters and histograms in Prometheus text format."""

    async def get(self, request: Request) -> Response:
        _refresh_drift_gauges()
        # aiohttp wants the charset apart from the content type.
        return self.text(generate_latest().decode(), content_type=PROMETHEUS_TYPE)


def _refresh_drift_gauges() -> None:
    """Drift figures are computed when asked for, not at every batch."""
    for name, live in SCORERS.items():
        drift = live.scorer.drift
        if drift is None:
            continue
        for feature, value in drift.feature_psi().items():
            metrics.FEATURE_PSI.labels(name, feature).set(value)
        for label, share in drift.label_share().items():
            if share["live"] is not None:
                metrics.LABEL_SHARE.labels(name, label).set(share["live"])


@app.page("/")
class Dashboard(View):
    """The live dashboard: a static page that polls /stats."""

    async def get(self, request: Request) -> Response:
        return self.html(DASHBOARD.read_text(encoding="utf-8"))
