
import orjson

from agents.pipeline_agents import AGENTS, SCORERS
from app import app
from models.artifacts import load_model
from schemas.heart import decode_heart_event, feature_rows
from tests.agents.conftest import RecordingProducer, fetched, until
from tests.examples import BAD_HEART_INPUTS, DEMO_HEART_LABEL, DEMO_HEART_LINE, heart_record

heart = app.settings.pipeline("heart")
counts_topic = app.settings.label_counts_topic



async def test_demo_line_gets_the_demo_label_with_its_key(producer: RecordingProducer) -> None:
    async with AGENTS["heart"].test_context() as agent:
        await agent.put(fetched(heart.input_topic, [(b"patient-1", DEMO_HEART_LINE)]))
        await until(lambda: producer.on(heart.output_topic))
    [out] = producer.on(heart.output_topic)
    assert (out.key, out.value) == (b"patient-1", DEMO_HEART_LABEL.encode())
    model = SCORERS["heart"].scorer.model
    shipped = load_model(app.settings.model_dir / heart.spec.model_file).estimator
    positive = float(shipped.predict_proba(
        feature_rows([decode_heart_event(DEMO_HEART_LINE)]))[0, 1])
    assert out.headers == {"model.name": b"heart", "model.version": model.version.encode(),
                           "score": f"{positive:.4f}".encode(),
                           "source.partition": b"0", "source.offset": b"0"}


async def test_bad_records_are_dead_lettered_and_good_ones_answered(
    producer: RecordingProducer,
) -> None:
    inputs = [heart_record(0)] + [raw for raw, _ in BAD_HEART_INPUTS] + [heart_record(1)]
    async with AGENTS["heart"].test_context() as agent:
        await agent.put(fetched(heart.input_topic,
                                [(f"k{i}".encode(), raw) for i, raw in enumerate(inputs)]))
        await until(lambda: len(producer.on(heart.output_topic)) == 2
                     and len(producer.on(heart.dlq_topic)) == len(BAD_HEART_INPUTS)
                     and any(r.key == b"heart:dead_letter"  # the batch's last delta
                             for r in producer.on(counts_topic)))
    outputs = producer.on(heart.output_topic)
    assert [o.key for o in outputs] == [b"k0", f"k{len(inputs) - 1}".encode()]
    dead = producer.on(heart.dlq_topic)
    for record, (raw, reason) in zip(dead, BAD_HEART_INPUTS, strict=True):
        assert record.value == raw
        assert record.headers["error.reason"].decode().startswith(reason)
        assert record.headers["source.topic"] == heart.input_topic.encode()
        assert {"source.partition", "source.offset"} <= record.headers.keys()
    deltas: dict[str, int] = {}
    for r in producer.on(counts_topic):
        key, value = (r.key or b"").decode(), orjson.loads(r.value or b"")
        deltas[key] = deltas.get(key, 0) + value
    assert deltas["heart:dead_letter"] == len(BAD_HEART_INPUTS)
    assert sum(v for k, v in deltas.items() if k != "heart:dead_letter") == 2
