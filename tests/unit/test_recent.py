"""What the dashboard shows of this worker's recent answers: latency slots, reject reasons."""

from __future__ import annotations

import numpy as np
import pytest

from agents.recent import EDGES_MS, SLOT_S, LatencySlots, Recent


def test_each_slot_gets_its_own_p99_within_a_bucket() -> None:
    slots = LatencySlots()
    slots.observe(np.array([2.0] * 990 + [400.0] * 10), now=1000.0)
    slots.observe(np.array([5.0] * 100), now=1000.0 + SLOT_S)
    p99 = slots.p99_ms()
    assert sorted(p99) == [1000, 1000 + SLOT_S]
    ratio = EDGES_MS[1] / EDGES_MS[0]
    assert 2.0 <= p99[1000] <= 2.0 * ratio  # 990 of 1000 at 2 ms: the p99 is 2 ms
    assert 5.0 <= p99[1000 + SLOT_S] <= 5.0 * ratio


def test_the_most_frequent_reasons_come_first() -> None:
    recent = Recent()
    for reason, n in [("not JSON", 5), ('missing field "age"', 2), ("too long", 9)]:
        for _ in range(n):
            recent.rejected("heart", reason)
    assert recent.top_reasons("heart", 2) == [("too long", 9), ("not JSON", 5)]
    assert recent.top_reasons("sentiment") == []


@pytest.mark.parametrize("n", [1, 500])
def test_latency_of_a_batch_is_from_each_input_timestamp(n: int) -> None:
    class Stamped:
        def __init__(self, timestamp: float) -> None:
            self.timestamp = timestamp

    recent = Recent()
    recent.answered("heart", [Stamped(99.99)] * n, now=100.0)  # type: ignore[list-item]
    [(start, counts)] = recent.latency["heart"].slots
    assert start == 100 and counts.sum() == n
    assert 10.0 <= recent.latency["heart"].p99_ms()[100] <= 10.0 * EDGES_MS[1] / EDGES_MS[0]
