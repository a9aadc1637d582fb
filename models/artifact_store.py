"""Published models as records of a compacted topic, and the state they add up to.

Every worker reads the same topic, so workers on several machines agree on which model
each pipeline runs, with no shared disk. Three kinds of record, keyed so compaction
keeps each one's latest:

- `chunk/<pipeline>/<version>/<n>`: the n-th piece of the artifact's bytes (pieces of
  CHUNK_BYTES keep every record under the broker's default message size);
- `manifest/<pipeline>/<version>`: the artifact's manifest (sha256, scikit-learn
  version, labels, metrics...), the number of chunks and the deployment's signature;
- `live/<pipeline>`: which version the pipeline runs, and the ones it ran before
  (what `rollback` goes back to);
- `shadow/<pipeline>`: which version also scores the pipeline's inputs without
  answering (`{"version": null}`: none).

A version is the start of the artifact's sha256 (`models.artifacts.VERSION_CHARS`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from models.signing import signed_by

CHUNK_BYTES = 512 * 1024


class ArtifactError(ValueError):
    """A published artifact that must not be used; the message says why."""


def chunk_key(pipeline: str, version: str, index: int) -> bytes:
    return f"chunk/{pipeline}/{version}/{index}".encode()


def manifest_key(pipeline: str, version: str) -> bytes:
    return f"manifest/{pipeline}/{version}".encode()


def live_key(pipeline: str) -> bytes:
    return f"live/{pipeline}".encode()


def shadow_key(pipeline: str) -> bytes:
    return f"shadow/{pipeline}".encode()


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]


class Chunks(Protocol):
    """Where a store keeps its chunks' bytes, by chunk key."""

    def put(self, key: bytes, value: bytes) -> None: ...

    def get(self, key: bytes) -> bytes: ...


class ChunksInMemory:
    """Chunk bytes in memory: for a command that reads the topic once and ends."""

    def __init__(self) -> None:
        self._bytes: dict[bytes, bytes] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self._bytes[key] = value

    def get(self, key: bytes) -> bytes:
        return self._bytes[key]


class ChunkFiles:
    """Chunk bytes in files of a folder: a worker follows every version ever published (a
    sentiment artifact alone is 17 MB), and needs a version's bytes only to load it.

    A file is named by the sha256 of its chunk key, so no key read from the topic can
    name a path outside the folder.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder

    def put(self, key: bytes, value: bytes) -> None:
        self._path(key).write_bytes(value)

    def get(self, key: bytes) -> bytes:
        return self._path(key).read_bytes()

    def _path(self, key: bytes) -> Path:
        return self.folder / hashlib.sha256(key).hexdigest()


@dataclass
class Published:
    """One published version of a pipeline's model, as far as its records have arrived."""

    chunks: Chunks
    manifest: dict[str, Any] | None = None
    #: Chunk index -> its key in `chunks`.
    pieces: dict[int, bytes] = field(default_factory=dict)

    def complete(self) -> bool:
        return self.manifest is not None and len(self.pieces) == self.manifest["chunks"]

    def artifact(self, key: bytes) -> tuple[bytes, dict[str, Any]]:
        """The verified bytes and manifest; ArtifactError when unsigned, tampered or partial."""
        if self.manifest is None:
            raise ArtifactError("no manifest published")
        if not signed_by(self.manifest, key):
            raise ArtifactError("unsigned or signed with another key")
        if not self.complete():
            raise ArtifactError(f"{len(self.pieces)} of {self.manifest['chunks']} chunks")
        data = b"".join(self.chunks.get(self.pieces[i]) for i in range(self.manifest["chunks"]))
        if hashlib.sha256(data).hexdigest() != self.manifest.get("sha256"):
            raise ArtifactError("its bytes do not match the signed sha256 (tampered)")
        return data, self.manifest


@dataclass
class ArtifactStore:
    """What the topic's records say: published versions and live pointers per pipeline."""

    chunks: Chunks = field(default_factory=ChunksInMemory)
    versions: dict[str, dict[str, Published]] = field(default_factory=dict)
    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    shadow: dict[str, str] = field(default_factory=dict)

    def apply(self, key: bytes | None, value: bytes | None) -> str | None:
        """Fold one record in; returns the pipeline whose live version it may change.

        A record that is not one of the three kinds raises ArtifactError and changes nothing.
        """
        raw_key = key or b""
        kind, _, rest = raw_key.decode(errors="replace").partition("/")
        if kind == "live":
            if value is None:
                self.live.pop(rest, None)
            else:
                pointer = _json_object(value, "live pointer")
                if not isinstance(pointer.get("version"), str):
                    raise ArtifactError(f"live pointer for {rest} names no version")
                self.live[rest] = pointer
            return rest
        if kind == "shadow":
            version = None if value is None else _json_object(value, "shadow pointer").get(
                "version")
            if version is None:
                self.shadow.pop(rest, None)
            elif isinstance(version, str):
                self.shadow[rest] = version
            else:
                raise ArtifactError(f"shadow pointer for {rest} names no version")
            return rest
        pipeline, _, rest = rest.partition("/")
        version, _, index = rest.partition("/")
        if kind == "manifest" and value is not None:
            manifest = _json_object(value, "manifest")
            if not isinstance(manifest.get("chunks"), int):
                raise ArtifactError(f"manifest of {pipeline} {version} gives no chunk count")
            self._version(pipeline, version).manifest = manifest
            return pipeline
        if kind == "chunk" and value is not None and index.isdigit():
            self.chunks.put(raw_key, value)
            self._version(pipeline, version).pieces[int(index)] = raw_key
            return pipeline
        if value is None and kind in ("manifest", "chunk"):
            return None  # a tombstone: compaction removes the record
        raise ArtifactError(f"not an artifact record (key {key!r})")

    def _version(self, pipeline: str, version: str) -> Published:
        return self.versions.setdefault(pipeline, {}).setdefault(version, Published(self.chunks))

    def live_version(self, pipeline: str) -> str | None:
        pointer = self.live.get(pipeline)
        return None if pointer is None else str(pointer["version"])

    def shadow_version(self, pipeline: str) -> str | None:
        return self.shadow.get(pipeline)

    def history(self, pipeline: str) -> list[str]:
        pointer = self.live.get(pipeline)
        return [] if pointer is None else list(pointer.get("history", []))

    def published(self, pipeline: str, version: str) -> Published | None:
        return self.versions.get(pipeline, {}).get(version)


def _json_object(value: bytes, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ArtifactError(f"{what} is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ArtifactError(f"{what} is not a JSON object")
    return parsed
