"""Messages for the replay command and the bench, from JSONL, CSV or text files."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

from pipelines.spec import Examples


def _number(text: str) -> Any:
    """A CSV cell as the number a JSON producer would send; other text unchanged."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def read_messages(examples: Examples, path: Path | None = None) -> list[bytes]:
    """Message values from a .jsonl, .csv(.gz) or .txt file (default: the shipped examples).

    A row of a JSONL or CSV file becomes a message through the pipeline's `message`; a
    line of a .txt file is one message as it is.
    """
    path = path or examples.path
    name = path.name.lower()
    if name.endswith(".txt"):
        return [line.encode() for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    if name.endswith((".csv", ".csv.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            rows: list[dict[str, Any]] = [
                {k: _number(v) if examples.numeric_csv else v for k, v in r.items()}
                for r in csv.DictReader(f)]
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    return [examples.message(row) for row in rows]


class Progress:
    """A one-line progress bar on a terminal stream, redrawn at most ten times a second."""

    def __init__(self, total: int, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.out, self.width = total, out, width
        self.started = time.monotonic()
        self.drawn = 0.0

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.drawn < 0.1:
            return
        self.drawn = now
        filled = int(self.width * done / max(self.total, 1))
        rate = done / max(now - self.started, 1e-9)
        bar = "#" * filled + "." * (self.width - filled)
        self.out.write(f"\r[{bar}] {done}/{self.total} {rate:,.0f} msg/s")
        self.out.flush()

    def close(self, done: int) -> None:
        self.update(done, force=True)
        self.out.write("\n")


async def paced(count: int, rate: float) -> AsyncIterator[int]:
    """Indexes 0..count-1, released no faster than `rate` per second (0 = no limit)."""
    started = time.monotonic()
    for i in range(count):
        if rate > 0:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        yield i
