"""Keep a broker outage from flooding the log.

While a broker is unreachable, aiokafka retries without backing off and logs every try
(thousands of lines a second; aio-libs/aiokafka#496). This filter lets each kind of
message through once per interval and says how many like it it held back.
"""

from __future__ import annotations

import logging
import time

INTERVAL_S = 5.0


class RepeatLimiter(logging.Filter):
    """At most one record per (logger, message template) every `interval_s` seconds."""

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[tuple[str, object], float] = {}
        self._held: dict[tuple[str, object], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka") or record.levelno < logging.WARNING:
            return True
        key = (record.name, record.msg)
        now = time.monotonic()
        if now - self._last.get(key, -self.interval_s) < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self.interval_s:g}s)"
        return True


def limit_repeats(logger: logging.Logger | None = None) -> None:
    """Install a limiter on every handler of `logger` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(RepeatLimiter())
