"""The heart pipeline on the real broker, through a real worker process."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from typing import Any

from tests.examples import (
    BAD_HEART_INPUTS,
    DEMO_HEART_LABEL,
    DEMO_HEART_LINE,
    HEART_LABELS,
    heart_record,
)
from tests.integration.conftest import Worker
from tests.integration.kafka_io import keyed, produce, read_until, wait_for


def _heart_counts(stats: dict[str, Any]) -> tuple[dict[str, int], int]:
    heart = stats["pipelines"].get("heart", {"labels": {}, "dead_letters": 0})
    return heart["labels"], heart["dead_letters"]


async def _stats_reach(worker: Worker, labels: dict[str, int], dead: int) -> None:
    await wait_for(lambda: _heart_counts(worker.stats()) == (labels, dead),
                   f"stats to show {labels} and {dead} dead letters", timeout=60)


async def test_demo_line_is_answered_with_the_demo_label(bootstrap: str, worker: Worker) -> None:
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    key = f"demo-{uuid.uuid4().hex}".encode()
    await produce(bootstrap, heart_pipe.input_topic, [(key, DEMO_HEART_LINE)])
    records = await read_until(bootstrap, heart_pipe.output_topic,
                               lambda rs: bool(keyed(rs, {key})), timeout=60)
    [answer] = keyed(records, {key})
    assert answer.value == DEMO_HEART_LABEL.encode()


async def test_thousand_records_give_thousand_answers_in_order(
    bootstrap: str, worker: Worker
) -> None:
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    run = uuid.uuid4().hex[:6]
    records = [(f"{run}-{i}".encode(), heart_record(i)) for i in range(1000)]
    keys = {k for k, _ in records}
    await produce(bootstrap, heart_pipe.input_topic, records)
    outputs = await read_until(bootstrap, heart_pipe.output_topic,
                               lambda rs: len(keyed(rs, keys)) >= 1000)
    mine = keyed(outputs, keys)
    assert sorted(r.key for r in mine) == sorted(keys)  # each key exactly once
    assert {r.value.decode() for r in mine} <= HEART_LABELS
    inputs = await read_until(bootstrap, heart_pipe.input_topic,
                              lambda rs: len(keyed(rs, keys)) >= 1000)
    sent_order: dict[int, list[bytes]] = defaultdict(list)
    for r in keyed(inputs, keys):
        sent_order[r.partition].append(r.key)
    got_order: dict[int, list[bytes]] = defaultdict(list)
    for r in mine:
        got_order[r.partition].append(r.key)
    assert got_order == sent_order  # same partition, same order


async def test_malformed_records_are_dead_lettered_between_answered_ones(
    bootstrap: str, worker: Worker
) -> None:
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    run = uuid.uuid4().hex[:6]
    good = [(f"{run}-good-{i}".encode(), heart_record(i)) for i in range(len(BAD_HEART_INPUTS) + 1)]
    bad = [(f"{run}-bad-{i}".encode(), raw) for i, (raw, _) in enumerate(BAD_HEART_INPUTS)]
    interleaved = [r for pair in zip(good, bad, strict=False) for r in pair] + [good[-1]]
    await produce(bootstrap, heart_pipe.input_topic, interleaved, partition=0)

    bad_keys = {k for k, _ in bad}
    dead = await read_until(bootstrap, heart_pipe.dlq_topic,
                            lambda rs: len(keyed(rs, bad_keys)) >= len(bad))
    by_key = {r.key: r for r in keyed(dead, bad_keys)}
    for key, (raw, reason) in zip((k for k, _ in bad), BAD_HEART_INPUTS, strict=True):
        headers = dict(by_key[key].headers)
        assert by_key[key].value == raw
        assert headers["error.reason"].decode().startswith(reason)
        assert headers["source.topic"].decode() == heart_pipe.input_topic
        assert headers["source.partition"] == b"0"
        assert int(headers["source.offset"]) >= 0

    good_keys = {k for k, _ in good}
    answers = await read_until(bootstrap, heart_pipe.output_topic,
                               lambda rs: len(keyed(rs, good_keys)) >= len(good))
    assert sorted(r.key for r in keyed(answers, good_keys)) == sorted(good_keys)
    # The table must count exactly what the topics hold: every answer and every dead letter.
    per_label = Counter(r.value.decode() for r in answers)
    await _stats_reach(worker, dict(per_label), len(dead))
