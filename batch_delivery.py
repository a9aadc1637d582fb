"""Kafka messages delivered to agents a fetched batch at a time, not one event at a time.

Faust hands each message to its streams on its own: a race against a rebalance
(`Service.wait_first`: four futures and an `asyncio.wait`), an event object, a queue
put and get, and a stream step. For an agent that works in batches anyway that costs
more than decoding and scoring do. Here the consumer puts the messages a fetch returned
for a routed topic on the agent's channel as one list, and the agent acknowledges them
itself once it has answered them; Faust's group membership, offset bookkeeping,
commits and rebalances are unchanged, and topics not routed take Faust's usual path.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ChannelT, Message, TopicT, TransportT
from mode import Service, ServiceT

YIELD_EVERY = 100  # messages delivered between turns given to the rest of the loop
QUEUED_BATCHES = 4  # fetched batches a routed agent may have waiting


class BatchDeliveringApp(faust.App):
    """A Faust app whose routed topics reach their agent as lists of messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_channels: dict[str, ChannelT[list[Message]]] = {}
        self.rebalance_over = asyncio.Event()
        self.rebalance_over.set()

    def on_rebalance_start(self) -> None:
        super().on_rebalance_start()
        self.rebalance_over.clear()

    def on_rebalance_end(self) -> None:
        """Let the consumer deliver again: the seek and the stream queues' clearing are done.

        A rebalance ends by seeking to the committed offsets and then clearing the
        stream queues, while the partitions are already being fetched from. Delivered
        before the seek, a message would be answered twice; delivered between the seek
        and the clearing, it would be cleared away and its copy fetched again skipped as
        already read. So the consumer holds everything but table changelogs (which the
        rebalance itself reads) until here.
        """
        super().on_rebalance_end()
        self.rebalance_over.set()

    def _new_transport(self) -> TransportT:
        return Transport(self.conf.broker_consumer, self)

    def batch_channel(self, topic: TopicT) -> ChannelT[list[Message]]:
        """The channel an agent reads `topic` from, as lists of messages in offset order.

        Each message must be acknowledged (`consumer.ack`) once answered; until it is,
        its offset is not committed, so a crash or rebalance delivers it again.
        """
        channel = self.channel(maxsize=QUEUED_BATCHES)
        self.topics.add(topic)
        self.batch_channels.update((name, channel) for name in topic.topics)
        return channel


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, delivering routed topics a batch at a time."""

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        while not (consumer_should_stop() or fetcher_should_stop()):
            self.diag.set_flag(CONSUMER_FETCHING)
            batch = [pair async for pair in self.getmany(timeout=1.0)]
            await self.sleep(0)
            if batch and not self.should_stop:
                # A rebalance stops delivery mid-batch, as it stops Faust's; what was not
                # delivered is fetched again from the committed offsets.
                await self.wait_first(self._deliver(batch), self.suspend_flow.wait())
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, batch: Sequence[tuple[TP, Message]]) -> None:
        """Faust's per-message bookkeeping, then one put per routed topic.

        `_read_offset` holds the next offset expected from each partition, which is what
        a seek sets it to.
        """
        app = cast(BatchDeliveringApp, self.app)
        channels = app.batch_channels
        changelogs = app.tables.changelog_topics
        routed: dict[str, list[Message]] = defaultdict(list)
        callback = self.callback
        read_offset = self._read_offset
        for n, (tp, message) in enumerate(batch, 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if not app.rebalance_over.is_set() and message.topic not in changelogs:
                await app.rebalance_over.wait()
            offset = message.offset
            expected = read_offset[tp]
            if expected is not None and offset < expected:
                continue  # delivered already, and fetched again after a seek back
            if (expected is not None and offset > expected
                    and app.topics.acks_enabled_for(message.topic)):
                await self._add_gap(tp, expected, offset - 1)
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()
            if message.topic in channels:
                routed[message.topic].append(message)
            else:
                await callback(message)
            # The next offset expected, as a seek leaves it (Faust's own loop keeps the
            # last one delivered, which a message held through a rebalance would then
            # be delivered again at).
            read_offset[tp] = offset + 1
        for topic, messages in routed.items():
            # A stream yields a channel value that is not an event as it is, unacked.
            await channels[topic].put(messages)  # type: ignore[arg-type]


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport, with the batch-delivering consumer."""

    Consumer = Consumer
