"""Shadow scoring: a published version scores the live inputs beside the live model."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from config.settings import DEFAULT_MODEL_DIR
from models.artifacts import load_model, sha256_file
from tests.examples import heart_record
from tests.integration.conftest import ROOT, make_worker
from tests.integration.kafka_io import keyed, produce, read_until, wait_for
from tests.poison_model import odd_age_candidate

EVENTS = 4_500  # ages 30..74 cycle every 45 events: 22 of each 45 are odd
ODD_AGES = EVENTS // 45 * 22


async def test_shadow_agreement_with_a_candidate_known_to_disagree(
        bootstrap: str, tmp_path: Path) -> None:
    shipped = load_model(DEFAULT_MODEL_DIR / "heart.joblib")
    candidate = odd_age_candidate(tmp_path / "candidate")
    version = sha256_file(candidate)[:12]
    worker = make_worker(bootstrap, tmp_path, "shadow", PYTHONPATH=str(ROOT),
                         ARTIFACT_KEY="shadow test key")
    heart = worker.settings.pipeline("heart")
    worker.start()
    try:
        for args in (["publish", "heart", str(candidate)], ["shadow", "heart", version]):
            done = worker.command("artifacts", *args)
            assert done.returncode == 0, done.stderr
        await wait_for(lambda: (worker.stats()["pipelines"]["heart"]["shadow"] or {})
                       .get("version") == version, "the worker to shadow the candidate")
        run = uuid.uuid4().hex[:6]
        keys = [f"{run}-{i}".encode() for i in range(EVENTS)]
        await produce(bootstrap, heart.input_topic,
                      [(k, heart_record(i)) for i, k in enumerate(keys)])
        answers = keyed(await read_until(bootstrap, heart.output_topic,
                                         lambda rs: len(keyed(rs, set(keys))) >= EVENTS,
                                         timeout=120), set(keys))
        await wait_for(lambda: worker.stats()["pipelines"]["heart"]["shadow"]["compared"]
                       == EVENTS, "the shadow counts to reach the table")
        shadow = worker.stats()["pipelines"]["heart"]["shadow"]
        live_labels = {label: sum(1 for r in answers if r.value == label.encode())
                       for label in heart.spec.labels}
        metrics = worker.page("/metrics")
        off = worker.command("artifacts", "shadow", "heart", "--off")
        assert off.returncode == 0, off.stderr
        await wait_for(lambda: worker.stats()["pipelines"]["heart"]["shadow"] is None,
                       "the worker to stop shadowing")
    finally:
        worker.stop()
    # The answers are the live model's alone; the shadow's labels are only counted.
    assert {dict(r.headers)["model.version"] for r in answers} == {shipped.version.encode()}
    assert shadow["agreed"] == EVENTS - ODD_AGES, shadow
    assert shadow["agreement"] == round((EVENTS - ODD_AGES) / EVENTS, 4)
    assert {k: v for k, v in shadow["live_labels"].items() if v} == \
        {k: v for k, v in live_labels.items() if v}
    assert sum(shadow["shadow_labels"].values()) == EVENTS
    assert shadow["seconds_per_batch"] > 0
    assert re.search(rf'inference_shadow_agreements_total\{{pipeline="heart"\}} '
                     rf'{EVENTS - ODD_AGES}\.0', metrics), metrics
