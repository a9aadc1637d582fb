"""Prometheus metrics of this worker process, served at /metrics (Prometheus sums workers)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
BATCH_SIZE = Histogram(
    "inference_batch_size", "Events per scored batch", ["pipeline"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
INFERENCE_SECONDS = Histogram(
    "inference_model_seconds", "Time of one batch's model call", ["pipeline"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BATCH_SECONDS = Histogram(
    "inference_batch_seconds", "Time to decode, score, send and get acks for one batch",
    ["pipeline"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
