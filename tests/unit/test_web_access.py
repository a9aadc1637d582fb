"""Who the web view lets in: the token's two forms, and what counts as loopback."""

import base64

import pytest

from web.access import is_loopback, presented_token


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.8.9.10", True),
    ("0.0.0.0", False), ("", False), ("10.1.2.3", False), ("example.org", False),
])
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_token_as_bearer_or_basic_password() -> None:
    basic = base64.b64encode(b"anyone:tok:en").decode()
    assert presented_token("Bearer tok") == "tok"
    assert presented_token(f"Basic {basic}") == "tok:en"
    assert presented_token("Basic not-base64!") is None
    assert presented_token("Digest x") is None
    assert presented_token("") is None
