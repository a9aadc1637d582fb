"""A worker scoring the shipped models with their fast forms never loads scikit-learn.

Unpickling and verifying happens in a short-lived process (`models.loader`); scikit-learn
and SciPy would otherwise stay in the worker, about 100 MB of its memory.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.examples import DEMO_REVIEW, DEMO_REVIEW_LABEL, heart_record
from tests.integration.conftest import Worker
from tests.integration.kafka_io import keyed, produce, read_until

HEAVY = ("/sklearn/", "/scipy/")


def _children(pid: int) -> list[int]:
    return [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _heavy_libraries(pid: int) -> set[str]:
    """Shared objects of scikit-learn or SciPy mapped into the process."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {line.split()[-1] for line in maps.splitlines()
            if line.endswith(".so") and any(part in line for part in HEAVY)}


async def test_worker_and_its_pool_score_without_scikit_learn(
    bootstrap: str, worker: Worker
) -> None:
    s = worker.settings
    run = uuid.uuid4().hex[:6]
    review_key, heart_key = f"{run}-review".encode(), f"{run}-heart".encode()
    await produce(bootstrap, s.pipeline("sentiment").input_topic,
                  [(review_key, DEMO_REVIEW.encode())])
    await produce(bootstrap, s.pipeline("heart").input_topic, [(heart_key, heart_record(1))])
    reviews = await read_until(bootstrap, s.pipeline("sentiment").output_topic,
                               lambda rs: bool(keyed(rs, {review_key})), timeout=90)
    assert keyed(reviews, {review_key})[0].value == DEMO_REVIEW_LABEL.encode()
    await read_until(bootstrap, s.pipeline("heart").output_topic,
                     lambda rs: bool(keyed(rs, {heart_key})), timeout=90)

    assert worker.process is not None
    pid = worker.process.pid
    pool = [child for child in _children(pid) if "spawn_main" in
            Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")]
    assert pool, "the sentiment pool's processes are the worker's children"
    assert _heavy_libraries(pid) == set()
    for child in pool:
        assert _heavy_libraries(child) == set(), f"pool process {child}"
