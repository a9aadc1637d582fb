"""Who may read the web view: anyone on loopback, only holders of WEB_AUTH_TOKEN beyond it.

The token is accepted as `Authorization: Bearer <token>` (Prometheus' `authorization`
setting, curl) or as the password of HTTP Basic authentication, which a browser asks for
itself and then sends with the dashboard's own requests.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHALLENGE = 'Basic realm="kafka-inference", charset="UTF-8"'


def is_loopback(host: str) -> bool:
    """True when a server bound to `host` can be reached from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name, or "" / "0.0.0.0"-like wildcards: reachable from outside


def presented_token(authorization: str) -> str | None:
    """The token in an Authorization header value (Bearer, or Basic's password)."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def require_token(token: str) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """aiohttp middleware answering 401 to every request without `token`."""
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = presented_token(request.headers.get("Authorization", ""))
        if given is None or not hmac.compare_digest(given.encode(), expected):
            return web.Response(status=401, text="401 Unauthorized: send the WEB_AUTH_TOKEN "
                                "as a Bearer token or as the Basic password\n",
                                headers={"WWW-Authenticate": CHALLENGE})
        return await handler(request)

    return middleware
