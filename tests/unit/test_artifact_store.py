"""Published models as topic records: signatures, chunks and live pointers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from models.artifact_store import (
    CHUNK_BYTES,
    ArtifactError,
    ArtifactStore,
    ChunkFiles,
    chunk_key,
    chunks,
    live_key,
    manifest_key,
)
from models.signing import sign, signed_by

KEY = b"deployment key"


def _published(data: bytes, key: bytes = KEY, store: ArtifactStore | None = None,
               ) -> ArtifactStore:
    store = store or ArtifactStore()
    pieces = chunks(data)
    for i, piece in enumerate(pieces):
        store.apply(chunk_key("heart", "v1", i), piece)
    manifest = sign({"sha256": hashlib.sha256(data).hexdigest(), "chunks": len(pieces)}, key)
    store.apply(manifest_key("heart", "v1"), json.dumps(manifest).encode())
    return store


def test_a_signature_holds_for_its_manifest_and_key_only() -> None:
    signed = sign({"sha256": "ab", "labels": ["x", "y"]}, KEY)
    assert signed_by(signed, KEY)
    assert not signed_by(signed, b"another key")
    assert not signed_by({**signed, "sha256": "cd"}, KEY)
    assert not signed_by({"sha256": "ab", "labels": ["x", "y"]}, KEY)  # unsigned


def test_an_artifact_larger_than_a_record_comes_back_whole() -> None:
    data = bytes(range(256)) * (3 * CHUNK_BYTES // 256 + 7)
    store = _published(data)
    published = store.published("heart", "v1")
    assert published is not None and len(published.pieces) == 4
    assert published.artifact(KEY) == (data, published.manifest)


def test_a_store_with_chunk_files_keeps_the_bytes_in_its_folder_only(tmp_path: Path) -> None:
    data = bytes(range(256)) * (2 * CHUNK_BYTES // 256 + 3)
    store = _published(data, store=ArtifactStore(ChunkFiles(tmp_path / "chunks")))
    published = store.published("heart", "v1")
    assert published is not None
    assert published.artifact(KEY) == (data, published.manifest)
    assert sorted(published.pieces.values()) == sorted(chunk_key("heart", "v1", i)
                                                       for i in range(3))
    files = list((tmp_path / "chunks").iterdir())
    assert sorted(f.stat().st_size for f in files) == sorted(len(c) for c in chunks(data))


def test_a_chunk_key_read_from_the_topic_names_no_path_outside_the_folder(
        tmp_path: Path) -> None:
    store = ArtifactStore(ChunkFiles(tmp_path / "chunks"))
    assert store.apply(b"chunk/../../0", b"bytes from anyone") == ".."
    assert [p.parent for p in tmp_path.rglob("*") if p.is_file()] == [tmp_path / "chunks"]


@pytest.mark.parametrize(("spoil", "reason"), [
    ("tamper", "tampered"), ("unsigned", "unsigned"), ("partial", "1 of 2 chunks"),
])
def test_spoiled_artifacts_are_refused_with_the_reason(spoil: str, reason: str) -> None:
    data = b"x" * (CHUNK_BYTES + 10)
    store = _published(data, key=b"someone else's" if spoil == "unsigned" else KEY)
    if spoil == "tamper":
        store.apply(chunk_key("heart", "v1", 1), b"y" * 10)
    if spoil == "partial":
        published = store.published("heart", "v1")
        assert published is not None
        del published.pieces[1]
    published = store.published("heart", "v1")
    assert published is not None
    with pytest.raises(ArtifactError, match=reason):
        published.artifact(KEY)


def test_live_pointers_keep_the_latest_and_its_history() -> None:
    store = ArtifactStore()
    assert store.apply(live_key("heart"), b'{"version": "v1", "history": []}') == "heart"
    store.apply(live_key("heart"), b'{"version": "v2", "history": ["v1"]}')
    assert (store.live_version("heart"), store.history("heart")) == ("v2", ["v1"])
    assert store.live_version("sentiment") is None


@pytest.mark.parametrize(("key", "value", "reason"), [
    (live_key("heart"), b"not json", "live pointer is not JSON"),
    (live_key("heart"), b'{"history": []}', "names no version"),
    (manifest_key("heart", "v3"), b"[1, 2]", "not a JSON object"),
    (manifest_key("heart", "v3"), b'{"sha256": "ab"}', "no chunk count"),
    (b"weights/heart", b"\x00", "not an artifact record"),
    (None, b"x", "not an artifact record"),
])
def test_a_record_that_is_no_artifact_record_is_refused_and_changes_nothing(
        key: bytes | None, value: bytes, reason: str) -> None:
    store = ArtifactStore()
    store.apply(live_key("heart"), b'{"version": "v1", "history": []}')
    with pytest.raises(ArtifactError, match=reason):
        store.apply(key, value)
    assert store.live_version("heart") == "v1"
    assert "v3" not in store.versions.get("heart", {})
