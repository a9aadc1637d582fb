"""A backlog's answers leave in record batches that an output topic made with the
broker's defaults accepts (its `max.message.bytes` is 1 MiB; the producer's batches
may be 2 MiB, for dead letters)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from config.settings import Settings
from tests.integration.kafka_io import new_topic, records_in
from transport.sink import OutRecord, producer_options, send_records


async def test_three_megabytes_of_answers_for_one_partition_reach_a_default_topic(
        bootstrap: str) -> None:
    topic = await new_topic(bootstrap, "answers")
    settings = Settings.from_env({"BROKER_URL": f"kafka://{bootstrap}", "APP_ID": topic})
    producer = AIOKafkaProducer(**producer_options(settings, "answers"))
    await producer.start()
    headers = [("model.version", b"20261126T000000Z"), ("score", b"0.731")]
    answers = [OutRecord(0, f"{i}".encode(), b"Risk of Heart Disease" * 4, headers)
               for i in range(20_000)]  # about 3 MB
    try:
        acks = await send_records(producer, topic, answers)
        for ack in acks:
            await ack  # a batch over the topic's limit raises MessageSizeTooLargeError
    finally:
        await producer.stop()
    assert len(acks) >= 3
    assert await records_in(bootstrap, topic) == len(answers)
