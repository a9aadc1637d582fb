"""The Faust and aiokafka internals the batch delivery relies on are all still there."""

from __future__ import annotations

from app import app
from transport.faust_internals import ConsumerThread, RetryingProducer, missing_private_api


def test_pinned_faust_and_aiokafka_have_every_private_part_relied_on() -> None:
    missing = missing_private_api(app.consumer)
    assert not missing, (
        "the installed faust-streaming or aiokafka no longer has "
        f"{', '.join(missing)}: transport/faust_internals.py must be adapted before upgrading")


def test_a_consumer_without_them_is_named() -> None:
    class Bare:
        pass

    missing = missing_private_api(Bare())  # type: ignore[arg-type]
    assert "Bare instance attribute _read_offset" in missing
    assert "Bare instance attribute _n_acked" in missing


async def test_a_worker_consumer_fetches_at_most_the_set_bytes_per_request() -> None:
    thread: ConsumerThread = app.consumer._thread  # type: ignore[attr-defined]
    consumer = thread._create_worker_consumer(app.transport)
    assert consumer._fetch_max_bytes == app.settings.fetch_max_bytes
    assert consumer._max_partition_fetch_bytes == app.settings.fetch_max_partition_bytes
    await consumer.stop()


def test_the_worker_lingers_its_fetches_as_set() -> None:
    assert app.fetch_linger_ms == app.settings.fetch_linger_ms == 2


async def test_faust_makes_its_transactional_producers_retry_coordinator_lookups() -> None:
    """With exactly-once, the counting agent's table writes go through Faust's producers;
    a lookup cut off by a stopping broker had ended one's sender, and the worker with it."""
    producer = app.producer._new_producer(transactional_id="a-partition")  # type: ignore[attr-defined]
    assert type(producer) is RetryingProducer
