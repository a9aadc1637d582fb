"""The Faust app, built from the validated settings; run it with `faust -A app worker`.

This module is a leaf: agents, tables, views and commands import `app` from here and
are found by autodiscovery, never imported by it.
"""

from __future__ import annotations

import gc
import sys
from concurrent.futures import ProcessPoolExecutor
from functools import cached_property
from multiprocessing import get_context
from typing import Any

from aiokafka import AIOKafkaProducer

from batch_delivery import BatchDeliveringApp
from log_limits import limit_repeats
from models.pool import init_process
from models.text import LinearText
from security import broker_credentials, client_options
from settings import Settings, SettingsError
from topic_admin import DEAD_LETTER_MAX_BYTES, BrokerUnavailable, ensure_topics


class InferenceApp(BatchDeliveringApp):
    """A Faust app that owns the validated settings and the executors models run in."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(
            settings.app_id,
            broker=settings.broker_url,
            store=settings.table_store,
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication_factor,
            web_host=settings.web_host,
            web_bind=settings.web_host,
            web_port=settings.web_port,
            autodiscover=["agents", "web"],
            origin="app",
            producer_acks=-1,
            broker_credentials=broker_credentials(settings),
            # How soon a dead worker's partitions move to the others.
            broker_session_timeout=settings.broker_session_timeout_s,
            broker_heartbeat_interval=min(3.0, settings.broker_session_timeout_s / 3),
            **kwargs,
        )
        self.settings = settings
        self._output_producer: AIOKafkaProducer | None = None
        # What the sentiment processes score with: the artifact's path, or its verified
        # compiled form once agents.sentiment has made one.
        self.sentiment_scorer: LinearText | str = str(settings.model_dir / "sentiment.joblib")

    @cached_property
    def sentiment_pool(self) -> ProcessPoolExecutor:
        """Processes that vectorise and score reviews, each with its own copy of the model.

        Vectorising text is pure-Python-heavy CPU work, so threads would share one core;
        `spawn` keeps the children free of the event loop's threads and sockets.
        """
        return ProcessPoolExecutor(
            max_workers=self.settings.sentiment_processes,
            mp_context=get_context("spawn"),
            initializer=init_process,
            initargs=(self.sentiment_scorer,),
        )

    @property
    def output_producer(self) -> AIOKafkaProducer:
        """The idempotent `acks=all` producer that answers and dead letters are sent with."""
        if self._output_producer is None:
            raise RuntimeError("the output producer starts with the worker")
        return self._output_producer

    async def on_first_start(self) -> None:
        """Create the topics before the consumer subscribes, and start the output producer."""
        await super().on_first_start()
        limit_repeats()  # the worker has set up its log handlers by now
        try:
            created = await ensure_topics(self.settings)
        except BrokerUnavailable as exc:
            raise SystemExit(f"kafka-inference: cannot start: {exc}") from None
        if created:
            self.log.info("created topics %s", created)
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap_servers,
            **client_options(self.settings),
            client_id=f"{self.settings.app_id}-outputs",
            acks="all",
            enable_idempotence=True,
            # Answers leave as whole record batches already, so lingering only adds latency.
            linger_ms=0,
            # Room for a dead letter as large as its topic accepts.
            max_batch_size=DEAD_LETTER_MAX_BYTES,
            max_request_size=DEAD_LETTER_MAX_BYTES + 64 * 1024,
        )
        await producer.start()
        self._output_producer = producer

    async def on_started(self) -> None:
        """Exempt everything that exists now (models, libraries, Faust) from the GC.

        Full collections otherwise walk those objects every few seconds and pause the event
        loop for about 100 ms each time, which was most of the tail latency.
        """
        await super().on_started()
        gc.collect()
        gc.freeze()

    async def on_stop(self) -> None:
        await super().on_stop()
        if self._output_producer is not None:
            await self._output_producer.stop()
        if "sentiment_pool" in self.__dict__:
            self.sentiment_pool.shutdown(wait=True)


def _load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"kafka-inference: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


app = InferenceApp(_load_settings())
