"""Create the app's topics before any consumer subscribes, and wait until they are visible.

A consumer that subscribes to a topic the cluster does not list yet is assigned none of
its partitions until the next rebalance, so the worker creates its topics first.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from config.settings import Settings
from transport.security import client_options

logger = logging.getLogger(__name__)


# Dead letters carry the input's bytes plus headers, so their topics accept twice the
# broker's default message size: an input at the input topic's limit still fits.
DEAD_LETTER_MAX_BYTES = 2 * 1024 * 1024


class BrokerUnavailable(RuntimeError):
    """The brokers did not answer within the start-up deadline."""


def app_topics(settings: Settings) -> list[str]:
    """Every topic the app reads or writes, apart from Faust's own internal ones."""
    return [*(topic for p in settings.pipelines
              for topic in (p.input_topic, p.output_topic, p.dlq_topic)),
            settings.label_counts_topic, settings.artifacts_topic]


async def ensure_topics(settings: Settings, *, compacted: tuple[str, ...] = ()) -> list[str]:
    """Create missing topics (plus `compacted` ones), wait until all are listed; return created.

    Waits up to `settings.broker_wait_s` for the brokers, then raises BrokerUnavailable.
    """
    timeout_s = settings.broker_wait_s
    wanted = app_topics(settings) + list(compacted)
    admin = await _connect(settings, timeout_s)
    try:
        existing = set(await admin.list_topics())
        missing = [
            # Published models are read in the order they were written: one partition.
            NewTopic(name, 1 if name == settings.artifacts_topic else settings.topic_partitions,
                     settings.topic_replication_factor,
                     topic_configs=_topic_configs(settings, name, compacted))
            for name in wanted if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                logger.info("a topic was created concurrently by another worker")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not set(wanted) <= set(await admin.list_topics()):
            if loop.time() > deadline:
                raise BrokerUnavailable(f"topics not visible after {timeout_s:.0f}s: {wanted}")
            await asyncio.sleep(0.2)
        return [t.name for t in missing]
    finally:
        await admin.close()


def _topic_configs(settings: Settings, name: str, compacted: tuple[str, ...]) -> dict[str, str]:
    if name in compacted or name == settings.artifacts_topic:
        return {"cleanup.policy": "compact"}
    if name in {p.dlq_topic for p in settings.pipelines}:
        return {"max.message.bytes": str(DEAD_LETTER_MAX_BYTES)}
    return {}


async def _connect(settings: Settings, timeout_s: float) -> AIOKafkaAdminClient:
    """An admin client, after bounded retries that log each failed try."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    attempt = 0
    while True:
        attempt += 1
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                                    **client_options(settings))
        try:
            await admin.start()
            return admin
        except (KafkaError, OSError) as exc:
            await admin.close()
            if loop.time() > deadline:
                raise BrokerUnavailable(
                    f"no Kafka broker answered at {settings.bootstrap_servers} "
                    f"within {timeout_s:.0f}s ({exc!r}); start one (`make kafka`) "
                    f"or set BROKER_URL"
                ) from None
            logger.warning("broker %s not reachable (try %d): %r",
                           settings.bootstrap_servers, attempt, exc)
            await asyncio.sleep(min(2.0, 0.2 * attempt))
