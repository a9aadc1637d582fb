"""Save a fitted model with its manifest, and load it only after checking both.

A joblib file is a pickle, and unpickling runs code: so a model is loaded only when its
sha256 matches the manifest written beside it and the installed scikit-learn is the
version it was trained with.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


VERSION_CHARS = 12


class ModelLoadError(RuntimeError):
    """A model artifact that must not or cannot be loaded; the message says what to do."""


@dataclass(frozen=True)
class ModelIdentity:
    """What a scorer keeps of its model once the model runs: its name and manifest.

    Not the artifact's bytes or the estimator: the predictor holds what it scores with,
    and a large model would otherwise be held two or three times over.
    """

    name: str
    manifest: dict[str, Any] = field(repr=False)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.manifest["labels"])

    @property
    def version(self) -> str:
        """A short, stable id of the artifact: the start of its sha256."""
        return str(self.manifest.get("sha256", ""))[:VERSION_CHARS]

    @property
    def identity(self) -> ModelIdentity:
        """Only the name and manifest, of a loaded model too: what a scorer keeps."""
        return ModelIdentity(self.name, self.manifest)


@dataclass(frozen=True)
class LoadedModel(ModelIdentity):
    """A verified estimator with the manifest it was shipped with."""

    artifact: bytes = field(default=b"", repr=False)  # the joblib file's bytes
    estimator: Any = field(default=None, repr=False)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def sklearn_version() -> str:
    """The installed scikit-learn's version, read without importing it (a worker that runs
    only fast forms never does)."""
    return version("scikit-learn")


def save_model(estimator: Any, model_path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write `estimator` to `model_path` and its manifest beside it; return the manifest."""
    import joblib

    model_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, model_path, compress=3)
    full = {
        "name": model_path.stem,
        "file": model_path.name,
        "sha256": sha256_file(model_path),
        "size_bytes": model_path.stat().st_size,
        "sklearn_version": sklearn_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **manifest,
    }
    manifest_path(model_path).write_text(json.dumps(full, indent=2) + "\n")
    return full


def read_manifest(model_path: Path) -> dict[str, Any]:
    """The manifest beside `model_path`, or ModelLoadError saying how to get one."""
    path = manifest_path(model_path)
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelLoadError(
            f"model manifest {path} is missing; retrain the model "
            f"(`make train`) or restore it from the repository"
        ) from None
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"model manifest {path} is not valid JSON ({exc}); retrain") from None
    return manifest


#: What to do about a refused artifact read from a model folder.
FOLDER_FIX = "Restore it from the repository or retrain it (`make train`)"


def read_artifact(model_path: Path) -> tuple[bytes, dict[str, Any]]:
    """A model file's bytes and its manifest, unchecked, or ModelLoadError if either is
    missing."""
    if not model_path.is_file():
        raise ModelLoadError(
            f"model file {model_path} is missing; set MODEL_DIR to the folder holding it "
            f"or retrain it (`make train`)"
        )
    return model_path.read_bytes(), read_manifest(model_path)


def load_model(model_path: Path) -> LoadedModel:
    """Verify `model_path` against its manifest and the installed scikit-learn, then load it."""
    data, manifest = read_artifact(model_path)
    return load_model_bytes(data, manifest, source=str(model_path), fix=FOLDER_FIX)


def check_artifact(data: bytes, manifest: dict[str, Any], *, source: str, fix: str) -> None:
    """Raise ModelLoadError unless the bytes are the manifest's and scikit-learn is its version.

    `source` names where the bytes came from and `fix` what to do if they are refused.
    """
    actual = hashlib.sha256(data).hexdigest()
    if actual != manifest.get("sha256"):
        raise ModelLoadError(
            f"refusing to load {source}: its sha256 {actual[:12]}... does not match the "
            f"manifest's {str(manifest.get('sha256'))[:12]}...; the artifact was changed or "
            f"replaced. {fix}"
        )
    trained_with, installed = manifest.get("sklearn_version"), sklearn_version()
    if trained_with != installed:
        raise ModelLoadError(
            f"refusing to load {source}: trained with scikit-learn {trained_with}, but "
            f"{installed} is installed. Install scikit-learn=={trained_with} "
            f"(`make install`) or retrain the model with this version (`make train`)"
        )


def load_model_bytes(data: bytes, manifest: dict[str, Any], *, source: str,
                     fix: str) -> LoadedModel:
    """Load an artifact's bytes once `check_artifact` passed them."""
    check_artifact(data, manifest, source=source, fix=fix)
    return unpickle(data, manifest, source=source)


def unpickle(data: bytes, manifest: dict[str, Any], *, source: str) -> LoadedModel:
    """The estimator in bytes that `check_artifact` has passed already."""
    import joblib

    try:
        estimator = joblib.load(io.BytesIO(data))
    except Exception as exc:  # any unpickling failure: missing class, corrupt stream, ...
        raise ModelLoadError(
            f"cannot load {source}: {exc!r}. Its code may be missing from this "
            f"installation; retrain it (`make train`) or restore it from the repository"
        ) from None
    logger.info("loaded model %s (sha256 %s...)", source, manifest["sha256"][:12])
    return LoadedModel(name=manifest.get("name", "model"), artifact=data,
                       estimator=estimator, manifest=manifest)
