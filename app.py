"""The Faust app, built from the validated settings; run it with `faust -A app worker`.

This module is a leaf: agents, tables, views and commands import `app` from here and
are found by autodiscovery, never imported by it. It holds nothing of any one pipeline:
the agents build those from the registry (`pipelines.registry`).
"""

from __future__ import annotations

import gc
import sys
import threading
from typing import Any

from aiokafka import AIOKafkaProducer

from config.settings import Settings, SettingsError
from models.predictors import Executors
from transport.delivery import AtLeastOnce, ExactlyOnce, Sender, exit_unless_stopped
from transport.faust_internals import BatchDeliveringApp, leader_topic, missing_private_api
from transport.log_limits import limit_repeats
from transport.security import broker_credentials
from transport.sink import output_producer
from transport.topics import BrokerUnavailable, TopicsReady, ensure_topics
from transport.transactions import PartitionTransactions
from web.access import is_loopback, require_token


class InferenceApp(BatchDeliveringApp):
    """A Faust app that owns the validated settings, the output producer and the executors."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(
            settings.app_id,
            broker=settings.broker_url,
            store=settings.table_store,
            topic_partitions=settings.topic_partitions,
            # Until the cluster is met (`create_topics`): Faust's own topics are made there too.
            topic_replication_factor=settings.topic_replication_factor or 1,
            web_host=settings.web_host,
            web_bind=settings.web_host,
            web_port=settings.web_port,
            autodiscover=["agents", "web"],
            origin="app",
            producer_acks=-1,
            broker_credentials=broker_credentials(settings),
            # Faust reads PROCESSING_GUARANTEE itself too: with exactly_once its own
            # producer, the table's changelog and the counting agent's offsets are
            # transactional, and its consumer reads read_committed.
            processing_guarantee=settings.processing_guarantee,
            # How soon a dead worker's partitions move to the others.
            broker_session_timeout=settings.broker_session_timeout_s,
            broker_heartbeat_interval=min(3.0, settings.broker_session_timeout_s / 3),
            # Faust's timer commits what the agents acknowledged since their last commit.
            broker_commit_interval=1.0,
            # Bytes fetched per request, per partition and in all: what a backlog costs
            # in memory.
            consumer_max_fetch_size=settings.fetch_max_partition_bytes,
            fetch_max_bytes=settings.fetch_max_bytes,
            fetch_linger_ms=settings.fetch_linger_ms,
            web_application_options=(
                {"middlewares": [require_token(settings.web_auth_token)]}
                if settings.web_auth_token else None),
            **kwargs,
        )
        self.settings = settings
        #: Where models without a verified fast form run; shut down with the app.
        self.executors = Executors()
        self._output_producer: AIOKafkaProducer | None = None
        self._stop_deadline: threading.Timer | None = None
        self._transactions = PartitionTransactions(settings)
        #: How scored batches reach Kafka and get committed (`transport.delivery`).
        self.sender: Sender = (
            ExactlyOnce(self, self._transactions)
            if settings.processing_guarantee == "exactly_once"
            else AtLeastOnce(self, lambda: self.output_producer, settings.label_counts_topic))

    @property
    def output_producer(self) -> AIOKafkaProducer:
        """The producer answers and dead letters are sent with (`transport.sink`)."""
        if self._output_producer is None:
            raise RuntimeError("the output producer starts with the worker")
        return self._output_producer

    async def on_first_start(self) -> None:
        """Check the web view's exposure and Faust's internals, name the worker in its group,
        create the topics, then start the output producer."""
        await super().on_first_start()
        bind = str(self.conf.web_bind)
        if not (is_loopback(bind) or self.settings.web_auth_token):
            raise SystemExit(f"kafka-inference: cannot start: the web view would be served on "
                             f"{bind or 'every interface'} without a token; set "
                             "WEB_AUTH_TOKEN (or bind it to 127.0.0.1)")
        # Read here, not at import: `faust worker --web-port` sets the port after import.
        self.conf.consumer_group_instance_id = self.settings.group_instance_id(
            self.conf.web_port)
        limit_repeats()  # the worker has set up its log handlers by now
        if missing := missing_private_api(self.consumer):
            raise SystemExit("kafka-inference: cannot start: the installed faust-streaming or "
                             f"aiokafka lacks {', '.join(missing)}; install the pinned "
                             "versions (`make install`)")
        try:
            ready = await self.create_topics()
        except BrokerUnavailable as exc:
            raise SystemExit(f"kafka-inference: cannot start: {exc}") from None
        if ready.created:
            self.log.info("created topics %s (%s)", ready.created, ready.replication)
        producer = output_producer(self.settings)
        await producer.start()
        self._output_producer = producer

    async def create_topics(self) -> TopicsReady:
        """Create the app's topics and Faust's own with the replication the cluster allows."""
        ready = await ensure_topics(
            self.settings,
            compacted=tuple(t.changelog_topic.get_topic_name() for t in self.tables.values()),
            one_partition=(leader_topic(self),))
        self.conf.topic_replication_factor = ready.replication.factor
        return ready

    async def on_started(self) -> None:
        """Exempt everything that exists now (models, libraries, Faust) from the GC.

        Full collections otherwise walk those objects every few seconds and pause the event
        loop for about 100 ms each time, which was most of the tail latency.
        """
        await super().on_started()
        gc.collect()
        gc.freeze()

    async def on_stop(self) -> None:
        """Stop within STOP_TIMEOUT_SECONDS, whether asked to or crashed, or exit as a crash
        would (`transport.delivery.exit_unless_stopped`)."""
        self._stop_deadline = exit_unless_stopped(self.settings.stop_timeout_s)
        await super().on_stop()
        if self._output_producer is not None:
            await self._output_producer.stop()
        await self._transactions.close()
        self.executors.shutdown()

    async def on_shutdown(self) -> None:
        """After the app's tasks have stopped: its model files can go."""
        await super().on_shutdown()
        self.executors.remove_files()
        if self._stop_deadline is not None:
            self._stop_deadline.cancel()


def _load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"kafka-inference: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


app = InferenceApp(_load_settings())
