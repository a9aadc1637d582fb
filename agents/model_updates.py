"""Models that change while the stream runs: followed through Kafka, switched between batches.

Every worker reads the artifacts topic (`models.artifact_store`). At first start, a
pipeline with nothing published gets its shipped artifact as its first version. When a
pipeline's live version changes, the worker checks the artifact's signature and bytes,
loads it away from the event loop and makes it the pipeline's scorer; the agent takes it
at its next batch, so no input is lost or answered twice by a switch, and each answer's
`model.version` header names the model that made it. An artifact that fails a check is
refused with a log line and a count (`inference_artifacts_refused_total`); the live
model stays.
"""

from __future__ import annotations

import asyncio
import logging

from agents import metrics
from agents.pipeline_agents import SCORERS, artifact, scorer_for
from agents.scoring import Scorer
from app import app
from models.artifact_store import ArtifactError, ArtifactStore, ChunkFiles
from models.artifacts import ModelLoadError
from models.loader import load_for_worker
from transport.artifact_topic import follow, publish_first

logger = logging.getLogger(__name__)


@app.task  # type: ignore[untyped-decorator]
async def follow_published_models() -> None:
    """Publish what nothing has been published for, then follow the live versions."""
    settings = app.settings
    store = ArtifactStore(ChunkFiles(app.executors.folder() / "published-chunks"))
    caught_up = asyncio.Event()
    refused: set[tuple[str, str]] = set()

    async def on_change(pipeline: str) -> None:
        if caught_up.is_set():
            await switch(pipeline, store, refused)

    following = asyncio.ensure_future(follow(settings, store, on_change=on_change,
                                             on_bad=_count_bad, ready=caught_up))
    await asyncio.wait([following, asyncio.ensure_future(caught_up.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    if settings.signs_with_development_key:
        logger.warning("published models are signed with the development key; set "
                       "ARTIFACT_KEY to the deployment's own")
    for name, live in SCORERS.items():
        if store.live_version(name) is None:
            shipped = settings.model_dir / live.scorer.pipeline.spec.model_file
            model = live.scorer.model  # loaded from `shipped` and verified at start
            # Workers check the bytes against the signed manifest's sha256 on arrival.
            await publish_first(settings, name, shipped.read_bytes(), model.manifest, store)
        await switch(name, store, refused)
        live.settled.set()
    await following


def _count_bad(pipeline: str) -> None:
    """A record on the artifacts topic that is no artifact record counts as refused."""
    metrics.ARTIFACTS_REFUSED.labels(pipeline if pipeline in SCORERS else "unknown").inc()


_SWITCHING = asyncio.Lock()  # one switch at a time: a pointer may move while one loads


async def switch(name: str, store: ArtifactStore, refused: set[tuple[str, str]]) -> None:
    """Make the pipeline's live and shadow versions this worker's, if new and valid."""
    live = SCORERS.get(name)
    if live is None:
        return
    async with _SWITCHING:
        version = store.live_version(name)
        if version is not None and version != live.scorer.model.version:
            scorer = await _verified(name, version, store, refused, live.scorer)
            if scorer is not None:
                old = live.replace(scorer)
                metrics.MODEL_SWITCHES.labels(name).inc()
                logger.info("%s: switched from version %s to %s", name, old.model.version,
                            version)
        shadow = store.shadow_version(name)
        shadowing = None if live.shadow is None else live.shadow.model.version
        if shadow == shadowing or (shadow is not None and shadow in live.failed_shadows):
            return
        scorer = None if shadow is None else await _verified(name, shadow, store, refused,
                                                            live.scorer)
        if shadow is None or scorer is not None:
            live.shadow_with(scorer)
            logger.info("%s: shadow %s", name, f"version {shadow}" if shadow else "off")


async def _verified(name: str, version: str, store: ArtifactStore,
                    refused: set[tuple[str, str]], current: Scorer) -> Scorer | None:
    """A scorer for a published version, or None: not all there yet, or refused."""
    published = store.published(name, version)
    if published is None or not published.complete() or (name, version) in refused:
        return None  # its records are still arriving, or it was refused already
    try:
        data, manifest = published.artifact(app.settings.artifact_key)
        return await asyncio.to_thread(_scorer, current, data, manifest)
    except (ArtifactError, ModelLoadError) as exc:
        refused.add((name, version))
        metrics.ARTIFACTS_REFUSED.labels(name).inc()
        logger.warning("%s: refusing published version %s, keeping %s: %s", name, version,
                       current.model.version, exc)
        return None


def _scorer(current: Scorer, data: bytes, manifest: dict[str, object]) -> Scorer:
    [model] = load_for_worker(artifact(
        current.pipeline, data, dict(manifest), source=f"{current.name} from Kafka",
        fix="Publish it again with `faust -A app artifacts publish`"))
    return scorer_for(current.pipeline, model)
