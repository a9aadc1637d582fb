"""Create the app's topics before any consumer subscribes, and wait until they are visible.

A consumer that subscribes to a topic the cluster does not list yet is assigned none of
its partitions until the next rebalance, so the worker creates its topics first, Faust's
own (table changelogs, the assignor's leader topic) included, so that every topic gets
the replication the cluster it meets can give: min(3, brokers) replicas and, with 3 or
more, `min.insync.replicas=2`, so an acknowledged answer survives the loss of a broker
and one broker down stops nothing (TOPIC_REPLICATION_FACTOR, TOPIC_MIN_INSYNC_REPLICAS).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from config.settings import Settings
from transport.security import client_options

logger = logging.getLogger(__name__)


# Dead letters carry the input's bytes plus headers, so their topics accept twice the
# broker's default message size: an input at the input topic's limit still fits.
DEAD_LETTER_MAX_BYTES = 2 * 1024 * 1024
# Answers go to topics made with the broker's default message size (1 MiB) or made by a
# user, so their record batches are cut below it: a worker on a backlog merges thousands
# of answers per partition into one request, and a batch of 2 MiB was refused for good.
ANSWER_BATCH_MAX_BYTES = 1_000_000


class BrokerUnavailable(RuntimeError):
    """The brokers did not answer within the start-up deadline."""


COMPACTED = {"cleanup.policy": "compact"}


@dataclass(frozen=True)
class Replication:
    """How many copies each topic the app creates keeps, and how many must have a write."""

    factor: int
    min_insync: int | None = None  # None: the broker's default

    @classmethod
    def for_cluster(cls, settings: Settings, brokers: int) -> Replication:
        factor = settings.topic_replication_factor or min(3, brokers)
        return cls(factor, settings.topic_min_insync_replicas or (2 if factor >= 3 else None))

    @property
    def configs(self) -> dict[str, str]:
        return {"min.insync.replicas": str(self.min_insync)} if self.min_insync else {}


@dataclass(frozen=True)
class TopicsReady:
    created: list[str]
    replication: Replication


def app_topics(settings: Settings, replication: Replication, compacted: tuple[str, ...] = (),
               one_partition: tuple[str, ...] = ()) -> list[NewTopic]:
    """Every topic the app reads or writes, as created: its own, plus Faust's `compacted`
    changelogs and `one_partition` internal topics."""
    def topic(name: str, configs: dict[str, str] | None = None,
              partitions: int = settings.topic_partitions) -> NewTopic:
        return NewTopic(name, partitions, replication.factor,
                        topic_configs={**replication.configs, **(configs or {})})

    dead_letters = {"max.message.bytes": str(DEAD_LETTER_MAX_BYTES)}
    return [
        *(topic(name) for p in settings.pipelines for name in (p.input_topic, p.output_topic)),
        *(topic(p.dlq_topic, dead_letters) for p in settings.pipelines),
        topic(settings.label_counts_topic),
        *(topic(name, COMPACTED) for name in compacted),
        # Published models are read in the order they were written: one partition.
        topic(settings.artifacts_topic, COMPACTED, partitions=1),
        *(topic(name, partitions=1) for name in one_partition),
    ]


async def ensure_topics(settings: Settings, *, compacted: tuple[str, ...] = (),
                        one_partition: tuple[str, ...] = ()) -> TopicsReady:
    """Create missing topics (see `app_topics`) and wait until all are listed.

    Waits up to `settings.broker_wait_s` for the brokers, then raises BrokerUnavailable.
    """
    timeout_s = settings.broker_wait_s
    admin = await _connect(settings, timeout_s)
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        replication = Replication.for_cluster(settings, brokers)
        if replication.factor > brokers:
            raise BrokerUnavailable(f"TOPIC_REPLICATION_FACTOR={replication.factor} needs as "
                                    f"many brokers; the cluster has {brokers}")
        wanted = app_topics(settings, replication, compacted, one_partition)
        names = {t.name for t in wanted}
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                logger.info("a topic was created concurrently by another worker")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not names <= set(await admin.list_topics()):
            if loop.time() > deadline:
                raise BrokerUnavailable(f"topics not visible after {timeout_s:.0f}s: "
                                        f"{sorted(names)}")
            await asyncio.sleep(0.2)
        return TopicsReady([t.name for t in missing], replication)
    finally:
        await admin.close()


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
