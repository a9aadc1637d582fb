"""What this worker saw lately, for the dashboard: answer latency over time, reject reasons.

Latency is from an input's Kafka timestamp to its answer being handed to the producer,
kept per 10-second slot for the last 10 minutes as counts in logarithmic buckets (about
14% wide), so a slot's p99 costs no memory per event. Dead-letter reasons are tallied by
their text, the most frequent kept.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from faust.types import Message

SLOT_S = 10
SLOTS = 60  # ten minutes
EDGES_MS = np.geomspace(0.1, 600_000.0, 120)
MAX_REASONS = 200  # distinct reasons remembered per pipeline


@dataclass
class LatencySlots:
    """Bucketed latencies of one pipeline's answers, one row of counts per slot."""

    slots: deque[tuple[int, np.ndarray]] = field(default_factory=lambda: deque(maxlen=SLOTS))

    def observe(self, latencies_ms: np.ndarray, now: float) -> None:
        start = int(now // SLOT_S * SLOT_S)
        if not self.slots or self.slots[-1][0] != start:
            self.slots.append((start, np.zeros(len(EDGES_MS) + 1, dtype=np.int64)))
        counts = self.slots[-1][1]
        counts += np.bincount(np.searchsorted(EDGES_MS, latencies_ms),
                              minlength=len(counts))

    def p99_ms(self) -> dict[int, float]:
        """Slot start (epoch seconds) -> the p99 latency's bucket's upper edge, in ms."""
        out = {}
        for start, counts in self.slots:
            rank = np.searchsorted(np.cumsum(counts), 0.99 * counts.sum())
            out[start] = float(EDGES_MS[min(rank, len(EDGES_MS) - 1)])
        return out


@dataclass
class Recent:
    """Per pipeline: latency slots and dead-letter reasons."""

    latency: dict[str, LatencySlots] = field(default_factory=dict)
    reasons: dict[str, Counter[str]] = field(default_factory=dict)

    def answered(self, pipeline: str, messages: Sequence[Message], now: float) -> None:
        stamps = np.fromiter((m.timestamp or now for m in messages), dtype=np.float64,
                             count=len(messages))
        self.latency.setdefault(pipeline, LatencySlots()).observe((now - stamps) * 1000, now)

    def rejected(self, pipeline: str, reason: str) -> None:
        tally = self.reasons.setdefault(pipeline, Counter())
        tally[reason] += 1
        if len(tally) > MAX_REASONS:
            del tally[min(tally, key=tally.__getitem__)]

    def top_reasons(self, pipeline: str, n: int = 5) -> list[tuple[str, int]]:
        return self.reasons.get(pipeline, Counter()).most_common(n)


#: This worker's: the scoring agents write it, the web view reads it.
RECENT = Recent()
