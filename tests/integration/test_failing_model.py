"""A batch that fails for a reason other than bad input ends the worker and is not lost."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from config.settings import DEFAULT_MODEL_DIR
from models.artifacts import load_model, save_model
from tests.examples import heart_record
from tests.integration.conftest import ROOT, make_worker
from tests.integration.kafka_io import produce, read_until, wait_for
from tests.poison_model import FailingModel

EXIT_SCORING_FAILED = 70


async def test_failing_model_exits_and_the_batch_is_answered_after_restart(
        bootstrap: str, tmp_path: Path) -> None:
    failing = tmp_path / "failing-models"
    failing.mkdir()
    for name in ("sentiment.joblib", "sentiment.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, failing / name)
    manifest = json.loads((DEFAULT_MODEL_DIR / "heart.json").read_text())
    save_model(FailingModel(), failing / "heart.joblib",
               {k: v for k, v in manifest.items() if k in ("labels", "features")})

    worker = make_worker(bootstrap, tmp_path, "failing", MODEL_DIR=str(failing),
                         BROKER_SESSION_TIMEOUT_SECONDS="8",
                         PYTHONPATH=str(ROOT))  # the failing model's class lives in tests/
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    run = uuid.uuid4().hex[:6]
    records = [(f"{run}-{i}".encode(), heart_record(i)) for i in range(200)]
    worker.start()
    await produce(bootstrap, heart_pipe.input_topic, records)
    process = worker.process
    assert process is not None
    await wait_for(lambda: process.poll() is not None, "the worker to exit", timeout=60)
    assert process.returncode == EXIT_SCORING_FAILED
    assert "a batch failed; exiting so it is scored again" in worker.log_tail(400)

    # The failing model went live as the first published version; the operator's way
    # back is publishing and promoting a good one. The worker then answers the batch.
    good = worker.command("artifacts", "publish", "heart", str(DEFAULT_MODEL_DIR / "heart.joblib"))
    assert good.returncode == 0, good.stderr
    version = load_model(DEFAULT_MODEL_DIR / "heart.joblib").version
    promoted = worker.command("artifacts", "promote", "heart", version)
    assert promoted.returncode == 0, promoted.stderr
    worker.start()
    try:
        keys = {k for k, _ in records}
        outputs = await read_until(bootstrap, heart_pipe.output_topic,
                                   lambda rs: {r.key for r in rs} >= keys, timeout=120)
        assert {r.key for r in outputs} == keys
        assert {dict(r.headers)["model.version"] for r in outputs} == {version.encode()}
    finally:
        worker.stop()
