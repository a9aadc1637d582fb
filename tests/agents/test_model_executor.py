"""A model with no verified fast form scores in the app's thread executor, never on the loop."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from agents.pipeline_agents import SCORERS
from agents.scoring import Scorer, score_events
from app import app
from models import linear
from models.artifacts import ModelIdentity, load_model
from models.predictions import predictions
from models.predictors import InThreads, OnLoop, build_predictor
from schemas.heart import LABELS, feature_rows
from tests.agents.conftest import fetched
from tests.examples import heart_record

SCORING_THREADS: list[int] = []


class RecordingForest(RandomForestClassifier):  # type: ignore[misc]
    """A forest that notes which thread each prediction ran on."""

    def predict_proba(self, x: Any) -> Any:
        SCORING_THREADS.append(threading.get_ident())
        return super().predict_proba(x)


def _forest() -> Pipeline:
    shipped = load_model(app.settings.model_dir / "heart.joblib").estimator
    rows = linear.probe_rows(n=400, seed=11)
    forest = Pipeline([("prep", clone(shipped.named_steps["prep"])),
                       ("clf", RecordingForest(n_estimators=20, random_state=0))])
    return forest.fit(rows, shipped.predict(rows))


def test_the_shipped_heart_model_runs_on_the_loop_in_its_verified_form() -> None:
    assert isinstance(SCORERS["heart"].scorer.predictor, OnLoop)


async def test_a_forest_scores_in_the_thread_executor() -> None:
    forest = _forest()
    pipeline = app.settings.pipeline("heart")
    predictor = build_predictor(estimator=forest, fast=linear.fast_form(forest),
                                predict_in="threads", artifact=b"", processes=1,
                                executors=app.executors)
    assert isinstance(predictor, InThreads)
    model = ModelIdentity(name="forest", manifest={})
    scorer = Scorer(pipeline, pipeline.spec.batch_decoder({}), model, predictor)
    records = [heart_record(i) for i in range(300)]
    SCORING_THREADS.clear()
    outbox = await score_events(
        fetched(pipeline.input_topic, [(str(i).encode(), r) for i, r in enumerate(records)]),
        scorer)
    ran_on = list(SCORING_THREADS)
    expected = predictions(forest.predict_proba(feature_rows(
        [pipeline.spec.decode(r) for r in records])), LABELS).labels
    assert [a.value.decode() for a in outbox.answers if a.value] == expected
    assert ran_on and threading.get_ident() not in ran_on, "the forest ran on the event loop"
    assert np.unique(expected).size == 2
