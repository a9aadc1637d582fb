
from agents.pipeline_agents import AGENTS
from app import app
from models.predictors import split
from tests.agents.conftest import RecordingProducer, fetched, until
from tests.examples import DEMO_REVIEW, DEMO_REVIEW_LABEL, SENTIMENT_LABELS, fixture_reviews

sentiment = app.settings.pipeline("sentiment")



def test_split_keeps_order_and_covers_everything() -> None:
    items = [str(i) for i in range(7)]
    chunks = split(items, 3)
    assert [x for c in chunks for x in c] == items and len(chunks) == 3
    assert split(items[:1], 4) == [["0"]]


async def test_reviews_are_scored_in_order_across_processes(producer: RecordingProducer) -> None:
    texts = [DEMO_REVIEW, *(text for text, _ in fixture_reviews()), "\u00ff\u00fe accents"]
    async with AGENTS["sentiment"].test_context() as agent:
        records = [(f"r{i}".encode(), text.encode()) for i, text in enumerate(texts)]
        await agent.put(fetched(sentiment.input_topic,
                                [*records, (b"bad", b"\xc3\x28 broken")]))
        await until(lambda: len(producer.on(sentiment.output_topic)) == len(texts)
                     and producer.on(sentiment.dlq_topic))
    outputs = producer.on(sentiment.output_topic)
    assert [o.key for o in outputs] == [f"r{i}".encode() for i in range(len(texts))]
    assert outputs[0].value == DEMO_REVIEW_LABEL.encode()
    assert {o.value.decode() for o in outputs if o.value} <= SENTIMENT_LABELS
    [dead] = producer.on(sentiment.dlq_topic)
    assert dead.key == b"bad" and dead.value == b"\xc3\x28 broken"
    assert dead.headers["error.reason"].startswith(b"not UTF-8")
