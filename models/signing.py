"""Signatures of published models: HMAC-SHA256 with the deployment's key.

A pickle runs code when it is loaded, so a worker loads a model from Kafka only when its
manifest carries a signature made with the deployment's key. The manifest holds the
artifact's sha256, so the signature covers the artifact's bytes too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNATURE = "signature"


def _signed_part(manifest: dict[str, Any]) -> bytes:
    """The manifest without its signature, as canonical JSON."""
    unsigned = {k: v for k, v in manifest.items() if k != SIGNATURE}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()


def sign(manifest: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The manifest with its signature."""
    signature = hmac.new(key, _signed_part(manifest), hashlib.sha256).hexdigest()
    return {**manifest, SIGNATURE: signature}


def signed_by(manifest: dict[str, Any], key: bytes) -> bool:
    """True when the manifest carries a valid signature made with `key`."""
    given = manifest.get(SIGNATURE)
    if not isinstance(given, str):
        return False
    expected = hmac.new(key, _signed_part(manifest), hashlib.sha256).hexdigest()
    return hmac.compare_digest(given, expected)
