"""The better sentiment model goes live the way a new model should: publish, shadow, promote.

The worker starts with the previous sentiment model (version 1, `models/previous/`) while
reviews stream in at 3,000 a second; the shipped model is published, shadows the live one,
then is promoted.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

from config.settings import DEFAULT_MODEL_DIR
from models.artifacts import load_model
from tests.examples import fixture_reviews
from tests.integration.conftest import OUTPUT, Worker, make_worker
from tests.integration.kafka_io import SteadyStream, keyed, read_until, wait_for

RATE = 3_000  # reviews/s offered
CHUNK = 300


async def test_the_better_sentiment_model_is_shadowed_then_promoted_under_load(
        bootstrap: str, tmp_path: Path) -> None:
    first = tmp_path / "first-models"
    first.mkdir()
    for name in ("heart.joblib", "heart.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, first / name)
    for name in ("sentiment.joblib", "sentiment.json"):
        shutil.copy(DEFAULT_MODEL_DIR / "previous" / name, first / name)
    old = load_model(first / "sentiment.joblib").version
    new = load_model(DEFAULT_MODEL_DIR / "sentiment.joblib").version
    worker = make_worker(bootstrap, tmp_path, "rollout", MODEL_DIR=str(first),
                         ARTIFACT_KEY="rollout test key")
    sentiment = worker.settings.pipeline("sentiment")
    reviews = [text.encode() for text, _ in fixture_reviews()]
    stream = SteadyStream(bootstrap, sentiment.input_topic,
                          lambda i: reviews[i % len(reviews)], RATE, CHUNK)
    sent = stream.sent

    worker.start()
    try:
        await wait_for(lambda: worker.stats()["pipelines"]["sentiment"]["model"]["version"]
                       == old, "the worker to run version 1")
        published = worker.command("artifacts", "publish", "sentiment",
                                   str(DEFAULT_MODEL_DIR / "sentiment.joblib"))
        assert published.returncode == 0, published.stderr
        stream.start()
        await wait_for(lambda: len(sent) >= 2 * RATE, "two seconds of reviews")
        shadowed = worker.command("artifacts", "shadow", "sentiment", new)
        assert shadowed.returncode == 0, shadowed.stderr
        # Agreements and the shadow's labels are counted under different keys, in different
        # partitions of the counts table, which the counting agent catches up with apart:
        # under load one read of them can lag the other by a few batches.
        await wait_for(lambda: _shadow_agrees(worker, at_least=2_000, share=0.8),
                       "the new model to shadow 2,000 reviews and agree on 80% of them")
        shadow = worker.stats()["pipelines"]["sentiment"]["shadow"]
        promoted = worker.command("artifacts", "promote", "sentiment", new)
        assert promoted.returncode == 0, promoted.stderr
        await wait_for(lambda: worker.stats()["pipelines"]["sentiment"]["model"]["version"]
                       == new, "the worker to switch to the new model")
        more = len(sent) + 3 * RATE
        await wait_for(lambda: len(sent) >= more, "three more seconds of reviews")
        await stream.stop()
        outputs = await read_until(bootstrap, sentiment.output_topic,
                                   lambda rs: len(keyed(rs, set(sent))) >= len(sent),
                                   timeout=180)
        after = worker.stats()["pipelines"]["sentiment"]
    finally:
        worker.stop()
    mine = keyed(outputs, set(sent))
    answered = [r.key for r in mine]
    by_partition: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for r in mine:
        headers = dict(r.headers)
        by_partition[r.partition].append((int(headers["source.offset"]),
                                          headers["model.version"].decode()))
    changes = {p: [(x, y) for (_, x), (_, y) in pairwise(sorted(answers)) if x != y]
               for p, answers in by_partition.items()}
    figures = {"reviews": len(sent), "lost": len(set(sent) - set(answered)),
               "duplicated": len(answered) - len(set(answered)),
               "shadow_at_promote": shadow, "version_changes": changes,
               "shadow_after_promote": after["shadow"]}
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "sentiment-rollout.json").write_text(json.dumps(figures, indent=1))
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
    assert all(c == [(old, new)] for c in changes.values()), figures  # one offset each
    assert after["shadow"] is None  # promoting the shadowed version ends the shadow
    assert shadow["compared"] >= 2_000, shadow


def _shadow_agrees(worker: Worker, *, at_least: int, share: float) -> bool:
    shadow = worker.stats()["pipelines"]["sentiment"]["shadow"] or {}
    return (shadow.get("compared") or 0) >= at_least and (shadow.get("agreement") or 0) > share
