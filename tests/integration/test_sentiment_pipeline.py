"""The sentiment pipeline on the real broker, through a real worker process."""

from __future__ import annotations

import uuid

from tests.examples import DEMO_REVIEW, DEMO_REVIEW_LABEL, SENTIMENT_LABELS, fixture_reviews
from tests.integration.conftest import Worker
from tests.integration.kafka_io import keyed, produce, read_until


async def test_demo_review_is_positive(bootstrap: str, worker: Worker) -> None:
    s = worker.settings
    sentiment_pipe = s.pipeline("sentiment")
    key = f"demo-{uuid.uuid4().hex}".encode()
    await produce(bootstrap, sentiment_pipe.input_topic, [(key, DEMO_REVIEW.encode())])
    records = await read_until(bootstrap, sentiment_pipe.output_topic,
                               lambda rs: bool(keyed(rs, {key})), timeout=90)
    [answer] = keyed(records, {key})
    assert answer.value == DEMO_REVIEW_LABEL.encode()


async def test_five_hundred_reviews_give_five_hundred_answers(
    bootstrap: str, worker: Worker
) -> None:
    s = worker.settings
    sentiment_pipe = s.pipeline("sentiment")
    reviews = fixture_reviews()
    run = uuid.uuid4().hex[:6]
    records = [(f"{run}-{i}".encode(), reviews[i % len(reviews)][0].encode())
               for i in range(500)]
    keys = {k for k, _ in records}
    await produce(bootstrap, sentiment_pipe.input_topic, records)
    outputs = await read_until(bootstrap, sentiment_pipe.output_topic,
                               lambda rs: len(keyed(rs, keys)) >= 500, timeout=120)
    mine = keyed(outputs, keys)
    assert sorted(r.key for r in mine) == sorted(keys)
    assert {r.value.decode() for r in mine} <= SENTIMENT_LABELS
    labels_by_review: dict[int, set[bytes]] = {}
    for r in mine:
        index = int(r.key.decode().rsplit("-", 1)[1]) % len(reviews)
        labels_by_review.setdefault(index, set()).add(r.value)
    assert all(len(labels) == 1 for labels in labels_by_review.values())  # same text, same label


async def test_bad_bytes_go_to_the_dead_letter_topic(bootstrap: str, worker: Worker) -> None:
    s = worker.settings
    sentiment_pipe = s.pipeline("sentiment")
    run = uuid.uuid4().hex[:6]
    bad = [(f"{run}-latin1".encode(), "caf\u00e9 cr\u00e8me".encode("latin-1")),
           (f"{run}-empty".encode(), b"   "),
           (f"{run}-json".encode(), b'{"text": null}')]
    good = (f"{run}-good".encode(), b"A wonderful, moving film with a brilliant cast.")
    await produce(bootstrap, sentiment_pipe.input_topic, [bad[0], good, bad[1], bad[2]])
    bad_keys = {k for k, _ in bad}
    dead = await read_until(bootstrap, sentiment_pipe.dlq_topic,
                            lambda rs: len(keyed(rs, bad_keys)) >= 3)
    reasons = {r.key: dict(r.headers)["error.reason"].decode() for r in keyed(dead, bad_keys)}
    assert reasons[bad[0][0]].startswith("not UTF-8")
    assert reasons[bad[1][0]].startswith("empty review")
    assert reasons[bad[2][0]].startswith('JSON event needs a string field "text"')
    assert {r.key: r.value for r in keyed(dead, bad_keys)} == dict(bad)
    answers = await read_until(bootstrap, sentiment_pipe.output_topic,
                               lambda rs: bool(keyed(rs, {good[0]})))
    assert keyed(answers, {good[0]})[0].value == b"Positive Sentiment"
