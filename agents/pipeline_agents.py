"""One scoring agent per registered pipeline, each with its model loaded and verified.

Models are loaded here, at start-up, so a bad artifact stops the worker with one message
before it joins the group (Faust's autodiscovery would otherwise log the error and run
without that agent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust
from faust.types import AgentT, Message

from agents.scoring import Live, Scorer, serve
from app import app
from config.settings import PipelineSettings
from models.artifacts import FOLDER_FIX, ModelLoadError, read_artifact
from models.drift import DriftWindow
from models.loader import Artifact, ReadyModel, load_for_worker
from models.predictors import InProcesses, build_predictor
from transport.delivery import BatchStream, exit_undelivered


def artifact(pipeline: PipelineSettings, data: bytes, manifest: dict[str, Any], *,
             source: str, fix: str) -> Artifact:
    """An artifact of the pipeline's, to load as the pipeline runs it (`models.loader`)."""
    return Artifact(data, manifest, source, fix, fast_form=pipeline.spec.fast_form,
                    in_threads=pipeline.spec.predict_in == "threads")


def _load_or_exit(pipelines: Sequence[PipelineSettings]) -> list[ReadyModel]:
    """The pipelines' shipped models, or the process stops with the reason and what to do."""
    try:
        shipped = []
        for pipeline in pipelines:
            path = app.settings.model_dir / pipeline.spec.model_file
            data, manifest = read_artifact(path)
            shipped.append(artifact(pipeline, data, manifest, source=str(path), fix=FOLDER_FIX))
        return load_for_worker(*shipped)
    except ModelLoadError as exc:
        raise SystemExit(f"kafka-inference: cannot start: {exc}") from None


def scorer_for(pipeline: PipelineSettings, model: ReadyModel) -> Scorer:
    """The pipeline ready to score with `model`, where its pipeline runs it."""
    spec = pipeline.spec
    predictor = build_predictor(
        estimator=model.estimator, fast=model.fast,
        predict_in=spec.predict_in, artifact=model.artifact,
        processes=pipeline.processes or 1, executors=app.executors)
    profile = model.manifest.get("profile")
    drift = (DriftWindow(profile, app.settings.drift_window, spec.drift_columns)
             if profile is not None and spec.drift_columns is not None else None)
    return Scorer(pipeline, spec.batch_decoder(pipeline.options), model.identity, predictor,
                  drift)


def _retire(scorer: Scorer) -> None:
    """Free what a replaced scorer held: its process pool, if it had one."""
    if isinstance(scorer.predictor, InProcesses):
        app.executors.retire(scorer.predictor.pool)


def _agent(live: Live) -> AgentT[list[Message]]:
    """The agent scoring the pipeline's input topic, whose keys and values stay bytes.

    Decoding is the pipeline's own, so bad bytes get a reason; the worker creates the
    topic before subscribing (see `transport.topics`).
    """
    name = live.scorer.name
    topic = app.topic(live.scorer.pipeline.input_topic, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw",
                      partitions=app.settings.topic_partitions)

    async def score(stream: faust.StreamT[list[Message]]) -> None:
        await serve(BatchStream(app, stream, app.settings.batch_size, app.sender,
                                on_failure=exit_undelivered), live)

    score.__name__ = score.__qualname__ = f"score_{name}"  # as Faust logs it
    return app.agent(app.batch_channel(topic), name=f"{__name__}.{score.__name__}")(score)


#: Pipeline name -> the scorer it uses now (`agents.model_updates` replaces it) and its agent.
SCORERS: dict[str, Live] = {
    p.name: Live(scorer_for(p, model), retire=_retire)
    for p, model in zip(app.settings.pipelines, _load_or_exit(app.settings.pipelines),
                        strict=True)}
AGENTS: dict[str, AgentT[list[Message]]] = {name: _agent(live) for name, live in SCORERS.items()}
