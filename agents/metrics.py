"""Prometheus metrics of this worker process, served at /metrics (Prometheus sums workers)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_IN = Counter("inference_events_in_total", "Input events consumed", ["pipeline"])
PREDICTIONS = Counter(
    "inference_predictions_total", "Predictions sent, by label", ["pipeline", "label"]
)
DEAD_LETTERS = Counter(
    "inference_dead_letters_total", "Input events sent to the dead-letter topic", ["pipeline"]
)
ARTIFACTS_REFUSED = Counter(
    "inference_artifacts_refused_total",
    "Published models this worker refused (unsigned, tampered, unloadable)", ["pipeline"])
MODEL_SWITCHES = Counter(
    "inference_model_switches_total", "Times this worker switched a pipeline's model",
    ["pipeline"])
SHADOW_PREDICTIONS = Counter(
    "inference_shadow_predictions_total", "Labels the shadow model gave (never sent)",
    ["pipeline", "label"])
SHADOW_AGREEMENTS = Counter(
    "inference_shadow_agreements_total", "Inputs the shadow model gave the live model's label",
    ["pipeline"])
SHADOW_FAILURES = Counter(
    "inference_shadow_failures_total", "Batches the shadow model failed on (shadowing stopped)",
    ["pipeline"])
BATCH_SIZE = Histogram(
    "inference_batch_size", "Events per scored batch", ["pipeline"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
MODEL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
INFERENCE_SECONDS = Histogram(
    "inference_model_seconds", "Time of one batch's model call", ["pipeline"],
    buckets=MODEL_BUCKETS,
)
FEATURE_PSI = Gauge(
    "inference_feature_psi",
    "Population stability index of an input feature over this worker's drift window",
    ["pipeline", "feature"])
LABEL_SHARE = Gauge(
    "inference_label_share", "Share of a label among the answers of this worker's drift window",
    ["pipeline", "label"])
SHADOW_MODEL_SECONDS = Histogram(
    "inference_shadow_model_seconds", "Time of one batch's shadow model call", ["pipeline"],
    buckets=MODEL_BUCKETS,
)
BATCH_SECONDS = Histogram(
    "inference_batch_seconds", "Time to decode, score, send and get acks for one batch",
    ["pipeline"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def mean(histogram: Histogram, pipeline: str) -> float | None:
    """This worker's mean observation of `histogram` for `pipeline`, None before the first."""
    totals = {sample.name.rsplit("_", 1)[1]: sample.value
              for family in histogram.collect() for sample in family.samples
              if sample.labels.get("pipeline") == pipeline
              and sample.name.endswith(("_sum", "_count"))}
    count = totals.get("count", 0.0)
    return totals.get("sum", 0.0) / count if count else None
