"""`faust -A app artifacts publish|list|promote|rollback|shadow`: models through Kafka.

    faust -A app artifacts publish heart path/to/heart.joblib   # manifest beside it
    faust -A app artifacts list
    faust -A app artifacts promote heart 8b211a1cb12b
    faust -A app artifacts rollback heart
    faust -A app artifacts shadow heart 3f0c9e1d2a7b     # score beside the live model
    faust -A app artifacts shadow heart --off

Every worker follows the topic and switches between two batches (`agents.model_updates`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from app import app
from config.settings import PipelineSettings
from models.artifact_store import ArtifactError, ArtifactStore
from models.artifacts import ModelLoadError, load_model_bytes, read_manifest
from transport.artifact_topic import publish, read_store, set_live, set_shadow

HISTORY = 10  # versions `rollback` can go back through
ACTIONS = ("publish", "list", "promote", "rollback", "shadow")


@app.command(
    click.argument("action", type=click.Choice(ACTIONS)),
    click.argument("args", nargs=-1),
    click.option("--off", is_flag=True, help="with shadow: stop shadow scoring"),
)
async def artifacts(self: object, action: str, args: tuple[str, ...], off: bool) -> None:
    """Publish a model through Kafka, list what is published, promote, roll back, shadow."""
    await app.create_topics()
    store = await read_store(app.settings)
    if action == "list":
        _print_list(store)
        return
    if not args:
        raise click.UsageError(f"artifacts {action} needs a pipeline")
    pipeline = _pipeline(args[0])
    if action == "publish" and len(args) == 2:
        await _publish(store, pipeline, Path(args[1]))
    elif action == "promote" and len(args) == 2:
        await _promote(store, pipeline, args[1])
    elif action == "rollback" and len(args) == 1:
        await _rollback(store, pipeline)
    elif action == "shadow" and len(args) == (1 if off else 2):
        await _shadow(store, pipeline, None if off else args[1])
    else:
        raise click.UsageError(f"artifacts {action}: unexpected arguments {' '.join(args)}")


def _pipeline(name: str) -> PipelineSettings:
    try:
        return app.settings.pipeline(name)
    except KeyError:
        names = ", ".join(p.name for p in app.settings.pipelines)
        raise click.UsageError(f"no pipeline {name!r}; registered: {names}") from None


async def _publish(store: ArtifactStore, pipeline: PipelineSettings, path: Path) -> None:
    """Publish only what loads, and scores the pipeline's probe input, here."""
    try:
        manifest = read_manifest(path)
        model = load_model_bytes(path.read_bytes(), manifest, source=str(path),
                                 fix="Publish the artifact its manifest describes")
    except (ModelLoadError, OSError) as exc:
        raise click.ClickException(f"refusing to publish: {exc}") from None
    labels = tuple(manifest.get("labels", ()))
    if labels != pipeline.spec.labels:
        raise click.ClickException(f"refusing to publish: its labels {list(labels)} are not "
                                   f"{pipeline.name}'s {list(pipeline.spec.labels)}")
    if pipeline.spec.probe is not None:
        _check_probe(model.estimator, pipeline, pipeline.spec.probe())
    existing = store.published(pipeline.name, model.version)
    if existing is not None and existing.complete():
        click.echo(f"{pipeline.name} version {model.version} is published already")
        return
    await publish(app.settings, pipeline.name, model.artifact, model.manifest)
    click.echo(f"published {pipeline.name} version {model.version} "
               f"({len(model.artifact):,} bytes); make it live with:\n"
               f"  faust -A app artifacts promote {pipeline.name} {model.version}")


def _check_probe(estimator: Any, pipeline: PipelineSettings, probe: Any) -> None:
    try:
        proba = np.asarray(estimator.predict_proba(probe))
    except Exception as exc:  # any failure to score is a reason to refuse
        raise click.ClickException(f"refusing to publish: it cannot score {pipeline.name}'s "
                                   f"probe input: {exc!r}") from None
    expected = (len(probe), len(pipeline.spec.labels))
    if proba.shape != expected or not np.isfinite(proba).all():
        raise click.ClickException(f"refusing to publish: on {pipeline.name}'s probe input "
                                   f"it gives {proba.shape} probabilities, not {expected}")


def _check_published(store: ArtifactStore, pipeline: PipelineSettings, version: str,
                     action: str) -> None:
    published = store.published(pipeline.name, version)
    if published is None:
        raise click.ClickException(f"{pipeline.name} has no published version {version}")
    try:
        published.artifact(app.settings.artifact_key)
    except ArtifactError as exc:
        raise click.ClickException(f"refusing to {action} {version}: {exc}") from None


async def _promote(store: ArtifactStore, pipeline: PipelineSettings, version: str) -> None:
    _check_published(store, pipeline, version, "promote")
    current = store.live_version(pipeline.name)
    history = ([current] if current else []) + store.history(pipeline.name)
    await set_live(app.settings, pipeline.name, version, history[:HISTORY])
    click.echo(f"{pipeline.name}: {current} -> {version}; every worker switches between two "
               f"batches")
    if store.shadow_version(pipeline.name) == version:
        await set_shadow(app.settings, pipeline.name, None)
        click.echo(f"{pipeline.name}: shadow off ({version} is live now)")


async def _shadow(store: ArtifactStore, pipeline: PipelineSettings, version: str | None) -> None:
    if version is not None:
        _check_published(store, pipeline, version, "shadow")
    await set_shadow(app.settings, pipeline.name, version)
    click.echo(f"{pipeline.name}: shadow {version or 'off'}" + (
        "; its agreement with the live model is on the dashboard and in /metrics"
        if version else ""))


async def _rollback(store: ArtifactStore, pipeline: PipelineSettings) -> None:
    history = store.history(pipeline.name)
    if not history:
        raise click.ClickException(f"{pipeline.name} has no earlier version to roll back to")
    current = store.live_version(pipeline.name)
    await set_live(app.settings, pipeline.name, history[0], history[1:])
    click.echo(f"{pipeline.name}: {current} -> {history[0]} (rolled back)")


def _print_list(store: ArtifactStore) -> None:
    for name, versions in sorted(store.versions.items()):
        live, shadow = store.live_version(name), store.shadow_version(name)
        click.echo(f"{name}:")
        for version, published in versions.items():
            manifest = published.manifest or {}
            try:
                published.artifact(app.settings.artifact_key)
                state = "ok"
            except ArtifactError as exc:
                state = f"REFUSED: {exc}"
            marker = "*" if version == live else "s" if version == shadow else " "
            click.echo(f"  {marker} {version}  {manifest.get('size_bytes', 0):>10,} bytes  "
                       f"{manifest.get('created_at', '?')}  {manifest.get('estimator', '')}"
                       f"  [{state}]")

