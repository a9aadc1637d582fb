"""Drift: a worker compares its live inputs with the training data's profile."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import orjson

from pipelines.spec import EXAMPLES
from tests.integration.conftest import Worker, make_worker
from tests.integration.kafka_io import keyed, produce, read_until

WINDOW = 1_200
#: 300 patients drawn at random from the training data.
PATIENTS: list[dict[str, int]] = [
    json.loads(line) for line in (EXAMPLES / "heart_patients.jsonl").read_text().splitlines()]


async def _stream(worker: Worker, bootstrap: str, patients: list[dict[str, int]]) -> None:
    """Send the patients and wait for every answer."""
    heart = worker.settings.pipeline("heart")
    run = uuid.uuid4().hex[:6]
    keys = [f"{run}-{i}".encode() for i in range(len(patients))]
    await produce(bootstrap, heart.input_topic,
                  [(k, orjson.dumps(p)) for k, p in zip(keys, patients, strict=True)])
    await read_until(bootstrap, heart.output_topic,
                     lambda rs: len(keyed(rs, set(keys))) == len(keys), timeout=120)


async def test_a_shifted_input_distribution_crosses_the_psi_threshold(
        bootstrap: str, tmp_path: Path) -> None:
    worker = make_worker(bootstrap, tmp_path, "drift", DRIFT_WINDOW_EVENTS=str(WINDOW))
    worker.start()
    try:
        await _stream(worker, bootstrap, PATIENTS * 4)
        calm = worker.stats()["pipelines"]["heart"]["drift"]
        older = [{**p, "age": p["age"] + 20} for p in PATIENTS]
        await _stream(worker, bootstrap, older * 4)
        shifted = worker.stats()["pipelines"]["heart"]["drift"]
        metrics = worker.page("/metrics")
    finally:
        worker.stop()
    figures = {"calm": calm["feature_psi"], "shifted": shifted["feature_psi"]}
    (Path("test-output") / "drift-figures.json").write_text(json.dumps(figures))
    assert calm["window_events"] == WINDOW == shifted["window_events"]
    assert max(calm["feature_psi"].values()) < 0.1, figures
    assert shifted["feature_psi"]["age"] > 0.25, figures
    others = {k: v for k, v in shifted["feature_psi"].items() if k != "age"}
    assert max(others.values()) < 0.1, figures
    training = calm["label_share"]["Risk of Heart Disease"]["training"]
    assert 0.5 < training < 0.6  # 508 of the 918 unique training rows
    gauge = re.search(r'inference_feature_psi\{feature="age",pipeline="heart"\} ([0-9.]+)',
                      metrics)
    assert gauge and float(gauge.group(1)) == shifted["feature_psi"]["age"], metrics
