"""Every use of Faust's private internals, in one place: fetched batches handed over as lists.

Faust hands each message to its streams on its own: a race against a rebalance
(`Service.wait_first`: four futures and an `asyncio.wait`), an event object, a queue put
and get, and a stream step. For an agent that works in batches anyway that costs more
than decoding and scoring do. Here the consumer puts the messages a fetch returned for a
routed topic on the agent's channel as one list; Faust's group membership, offset
bookkeeping, commits and rebalances are unchanged, and topics not routed take Faust's
usual path. Agents see none of this: `transport.delivery` hands them batches and takes
them back once answered.

What is relied on, and why (`missing_private_api` checks each one at start-up, and
`tests/unit/test_faust_internals.py` on every test run, so an upgrade that drops one
fails loudly instead of answering twice or losing offsets):

- `faust.App._new_transport()`: the one place the app's transport is built; overridden
  to use the batch-delivering consumer.
- `faust.transport.drivers.aiokafka.Consumer._drain_messages(fetcher)`: the fetch loop;
  overridden to deliver lists.
- `Consumer._wait_next_records(timeout)`, `_buffered_partitions`, `flow_active`,
  `perform_seek()`, `highwater(tp)` and `ConsumerMessage`'s arguments: the pieces of
  Faust's `getmany`, which the fetch loop calls itself so that what Faust checks per
  message is checked once per fetch and partition (`Consumer._fetched`).
- `Consumer._read_offset` (TP -> next offset expected): updated per message as Faust's
  loop does, so a message fetched again after a seek back is not delivered twice.
- `Consumer._add_gap(tp, first, last)`: records offsets missing from a fetch (compacted
  or transaction markers) so commits can move past them.
- `Consumer._commit_every`, `Consumer._n_acked`: Faust's commit-every-N-acks rule, kept.
- `Consumer._unacked_messages` (through the public `unacked` property, mutated here):
  messages a rebalance or a stop must wait for; a batch is added while it is scored.
- `Message.generation_id`, `App.consumer_generation_id`: a batch fetched before a
  rebalance is dropped; the partitions' owner fetches it again.
- `faust.App.on_rebalance_start/on_rebalance_end`: hooks that hold delivery during a
  rebalance (see `BatchDeliveringApp.on_rebalance_end`).
- `Channel.queue`: fetches queued behind a busy batch are taken together.
- `Monitor.stream_inbound_time`, `tp_read_offsets`, `messages_received_total`,
  `messages_received_by_topic`, `events_total`: what a stream's sensors would record,
  recorded per batch, so Faust's liveness check ("Stream has not started processing")
  and its monitor see batch-delivered topics progress.
- `AIOKafkaConsumerThread.tp_last_committed_at` (the consumer's `_thread`): the same
  check's "no recent commit", told of the commits made in transactions, which Faust's
  own committer does not make.
- `App._leader_assignor`, `LeaderAssignor._leader_topic_name`: the one internal topic
  Faust makes besides table changelogs; the app creates it first, with the replication
  the cluster allows.
- `Consumer._new_consumer_thread()` and mode's `ServiceThread` (`start`, `_serve`,
  `_thread_started`, `_thread_running`, `call_thread`, `_gather_remaining_tasks` and the
  `thread_loop` argument): Faust runs aiokafka in a thread of its own, so every fetch
  crosses between two event loops twice and the two threads take turns at the GIL. At
  1,000 events/s that was most of an answer's time: p50 5 / p99 10 ms from the producer
  to the answer, against 2 / 7 with aiokafka on the app's loop (`ConsumerThread`). The
  thread kept the group's heartbeats going while the loop was blocked; here nothing
  blocks the loop for long (models run in executors or take milliseconds per batch).
- `AIOKafkaConsumerThread._create_worker_consumer()`
  and the aiokafka consumer's `_fetch_max_wait_ms`: aiokafka keeps one fetch request in
  flight per broker and leaves out of it the partitions whose records are still waiting
  to be taken; Faust hard-codes the broker's wait for such a request at 1.5 s. A request
  sent while the input partitions' records were still being handed over waits on the
  others, and the stream stalled for up to 1.5 s; it is 100 ms here (`FETCH_MAX_WAIT_MS`).
  Its `_fetch_max_bytes`, which Faust does not pass, bounds one request over all of a
  worker's partitions (`FETCH_MAX_BYTES`): a backlog then costs a worker the same memory
  however many partitions it owns, and a worker of two reads as much per request as one
  alone.
- aiokafka's `Fetcher._proc_fetch_request(assignment, node_id, request)` and its
  `FetchRequest`'s `_max_wait_ms` and `_min_bytes` (read when the request is encoded): a
  fetch that follows one bringing records lingers (`linger_fetches`). Otherwise, at
  1,000 events/s, each fetch brought one or two events: a fetch and a produce request per
  event or two cost the worker 62-87% of a core and the broker 42-46%. Waiting up to 2 ms
  for more: 47-56% and 36-41%, p50 unchanged, p99 lower in 10 of 15 alternating pairs.
- `AIOKafkaConsumerThread._highwaters()`: with exactly-once, Faust takes a changelog's
  end from the last stable offset the consumer saw in a fetch response, which is None
  for a partition not fetched yet: recovery then believed every changelog empty and
  started each table from zero after a restart. Asked of the broker instead
  (`end_offsets`, which a read_committed consumer answers with the last stable offset),
  and moved back to one past the last record before it (`transport.changelog_ends`):
  the end offset follows a commit marker, which recovery waited 10 s for.
- `Consumer._paused_partitions` and `Consumer._thread`: Faust "pauses"
  a partition only in its own bookkeeping (it stops asking for it), while aiokafka keeps
  fetching it. Records of such a partition (a table's changelog, after recovery) then sit
  in aiokafka's buffer, and whenever one appears aiokafka stops fetching from that broker
  for its 100 ms prefetch backoff. Faust's pauses are made aiokafka's too, and Faust's
  liveness check (`Consumer.verify_event_path`) no longer expects fetches for a partition
  Faust itself paused ("Aiokafka has not sent fetch request ... since start").
- `GroupCoordinator._maybe_leave_group` and its `_group_instance_id`, `generation`,
  `member_id`, `_send_req`: aiokafka skips the LeaveGroup of a static member; a stopping
  worker leaves anyway (`transport.static_membership`), so a scale-down moves its
  partitions at once, while a crashed worker's partitions wait for it to come back.
- aiokafka's `Sender._find_coordinator`, `Sender.client`, `Sender._retry_backoff` and the
  producer's `_sender`: aiokafka retries a coordinator lookup the broker cannot answer
  yet, but not one whose connection closed under it (a broker stopping); that error ends
  a transactional producer's sender for good, and the worker with it. Retried here like
  the others (`retry_coordinator_lookups`), in the app's transactional producers and in
  Faust's (`Producer._producer_type`).
- aiokafka's producer `client` and its `_metadata_update(cluster, topics)`, which its
  metadata task awaits for every update: the producer's sender asks for metadata again as
  soon as an update fails, which with the broker away is at once; a failed update now
  ends after the retry backoff (`back_off_failed_metadata_updates`).
- aiokafka's `AIOKafkaProducer.create_batch()/send_batch()` and `BatchBuilder.append()`
  returning None when full (`transport.sink`).
- `Consumer.force_commit()`, `Producer.flush()`: with exactly-once Faust takes the
  offsets to commit, then sends them and commits the transaction while the counting
  agent goes on writing the table; its changelog writes wait in Faust's producer buffer
  and enter whichever transaction is open when they leave it. A write whose offset was
  not taken could be committed (counted twice after a crash), or one whose offset was
  taken left for the next transaction (never counted, if the worker died before it).
  Here a commit first flushes the buffer, and it and the table writes with their acks
  take turns (`commit_gate`), so a transaction holds exactly the writes of its offsets.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import faust
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.producer.sender import Sender
from aiokafka.protocol.fetch import FetchRequest
from faust.assignor.leader_assignor import LeaderAssignor
from faust.channels import Channel
from faust.exceptions import ConsumerNotStarted
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth, server_list
from faust.types import TP, ChannelT, ConsumerMessage, ConsumerT, Message, TopicT, TransportT
from mode import ServiceT
from mode.threads import ServiceThread
from mode.utils.futures import maybe_async

from transport.changelog_ends import record_ends
from transport.static_membership import leave_group

logger = logging.getLogger(__name__)

YIELD_EVERY = 100  # messages delivered between turns given to the rest of the loop
FETCH_MAX_WAIT_MS = 100  # longest a fetch request waits at the broker for new records
QUEUED_BATCHES = 4  # fetched batches a routed agent may have waiting
#: What ends a lingering fetch before its time (`linger_fetches`): a backlog is read at once.
LINGER_MIN_BYTES = 64 * 1024
TAIL_READ_TIMEOUT_S = 30.0  # longest a recovery waits for its changelogs' tails to be read

#: Attributes the consumer instance must have (set in Faust's Consumer.__init__).
CONSUMER_ATTRIBUTES = ("_read_offset", "_commit_every", "_n_acked", "_unacked_messages",
                       "_paused_partitions", "unacked", "callback", "suspend_flow", "diag",
                       "_wait_next_records", "_buffered_partitions", "flow_active",
                       "perform_seek", "highwater", "commit", "ack")
#: Attributes of its consumer thread (set in mode's ServiceThread.__init__).
THREAD_ATTRIBUTES = ("_thread_started", "_thread_running", "parent_loop", "thread_loop")
#: Methods the classes must define.
CLASS_METHODS: tuple[tuple[type, str], ...] = (
    (faust.App, "_new_transport"),
    (faust.App, "on_rebalance_start"),
    (faust.App, "on_rebalance_end"),
    (faust_aiokafka.Consumer, "_drain_messages"),
    (faust_aiokafka.Consumer, "_add_gap"),
    (faust_aiokafka.Consumer, "_new_consumer_thread"),
    (faust_aiokafka.Consumer, "verify_event_path"),
    (faust_aiokafka.Consumer, "force_commit"),
    (faust_aiokafka.Producer, "flush"),
    (faust_aiokafka.Producer, "_producer_type"),
    (ServiceThread, "_serve"),
    (ServiceThread, "_gather_remaining_tasks"),
    (faust_aiokafka.AIOKafkaConsumerThread, "call_thread"),
    (faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer"),
    (faust_aiokafka.AIOKafkaConsumerThread, "_highwaters"),
    (faust_aiokafka.AIOKafkaConsumerThread, "_ensure_consumer"),
    (GroupCoordinator, "_maybe_leave_group"),
    (faust.App, "_leader_assignor"),
    (LeaderAssignor, "_leader_topic_name"),
    (Sender, "_find_coordinator"),
    (Fetcher, "_proc_fetch_request"),
    (AIOKafkaConsumer, "pause"),
    (AIOKafkaConsumer, "resume"),
    (Channel, "queue"),
    (AIOKafkaClient, "_metadata_update"),
    (AIOKafkaProducer, "create_batch"),
    (AIOKafkaProducer, "send_batch"),
    (BatchBuilder, "append"),
)


def missing_private_api(consumer: ConsumerT) -> list[str]:
    """What of the above the installed faust-streaming and aiokafka no longer have."""
    missing = [f"{cls.__module__}.{cls.__qualname__}.{name}"
               for cls, name in CLASS_METHODS if not hasattr(cls, name)]
    missing += [f"{type(consumer).__name__} instance attribute {name}"
                for name in CONSUMER_ATTRIBUTES if not hasattr(consumer, name)]
    missing += [f"{type(consumer).__name__}._thread instance attribute {name}"
                for name in THREAD_ATTRIBUTES
                if not hasattr(getattr(consumer, "_thread", None), name)]
    consumer_init = inspect.getsource(AIOKafkaConsumer.__init__)
    missing += [f"aiokafka.AIOKafkaConsumer instance attribute {name}"
                for name in ("_fetch_max_wait_ms", "_fetch_max_bytes")
                if f"self.{name}" not in consumer_init]
    request_init = inspect.getsource(FetchRequest.__init__)
    missing += [f"aiokafka FetchRequest instance attribute {name}"
                for name in ("_max_wait_ms", "_min_bytes") if f"self.{name}" not in request_init]
    if not hasattr(Message(topic="t", partition=0, offset=0, timestamp=0.0,
                           timestamp_type=0, headers=[], key=None, value=None,
                           checksum=None), "generation_id"):
        missing.append("faust.types.Message.generation_id")
    return missing


class BatchDeliveringApp(faust.App):
    """A Faust app whose routed topics reach their agent as lists of messages."""

    def __init__(self, *args: Any, fetch_max_bytes: int, fetch_linger_ms: int,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Bytes one fetch request may bring over all of this worker's partitions.
        self.fetch_max_bytes = fetch_max_bytes
        #: How long a fetch after one that brought records waits for more (0: not at all).
        self.fetch_linger_ms = fetch_linger_ms
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
        """The channel an agent reads `topic` from, as lists of messages in offset order."""
        channel = self.channel(maxsize=QUEUED_BATCHES)
        self.topics.add(topic)
        self.batch_channels.update((name, channel) for name in topic.topics)
        return channel


def queued(stream: faust.StreamT[list[Message]]) -> list[Message]:
    """The messages of every fetch waiting on the stream's channel, taken off it."""
    queue = cast(Channel[list[Message]], stream.channel).queue
    messages: list[Message] = []
    while not queue.empty():
        messages.extend(queue.get_nowait())
    return messages


def current_generation(app: faust.App, messages: Iterable[Message]) -> list[Message]:
    """The messages fetched since the last rebalance; older ones are fetched again."""
    generation = app.consumer_generation_id
    return [m for m in messages if m.generation_id == generation]


def note_progress(app: faust.App, messages: Sequence[Message]) -> None:
    """Tell Faust's monitor the messages reached their agent, as a stream would."""
    monitor = app.monitor
    now = time.monotonic()
    last: dict[TP, int] = {}
    for message in messages:
        last[message.tp] = message.offset
    for tp, offset in last.items():
        monitor.stream_inbound_time[tp] = now
        monitor.tp_read_offsets[tp] = offset
    if messages:  # one routed topic per batch
        monitor.messages_received_by_topic[messages[0].topic] += len(messages)
    monitor.messages_received_total += len(messages)
    monitor.events_total += len(messages)


def note_committed(app: faust.App, tp: TP, when: float) -> None:
    """Tell Faust's liveness check that `tp` had an offset committed at `when`."""
    app.consumer._thread.tp_last_committed_at[tp] = when  # type: ignore[attr-defined]


def hold(consumer: ConsumerT, batch: Sequence[Message]) -> None:
    """Make a rebalance or a stop wait until the batch is released.

    Faust waits while any message is unacknowledged, so its last message stands for it.
    """
    consumer.unacked.update(batch[-1:])


def release(consumer: ConsumerT, batch: Sequence[Message]) -> None:
    """Stop waiting for the batch (done, or acknowledged before a seek back)."""
    consumer.unacked.difference_update(batch[-1:])


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka service, run on the app's event loop instead of a thread of its own,
    with a shorter broker-side wait for fetches.

    Made with `thread_loop` set to the app's loop: it starts as a task there, and what
    Faust would queue for the thread is awaited in place.
    """

    _serving: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._thread_started.set()
        self._thread_running = self.parent_loop.create_future()
        # Not one of the service's futures: it stops those itself, from inside _serve.
        self._serving = self.parent_loop.create_task(self._serve())  # sets _thread_running
        try:
            await self._thread_running
        finally:
            self._thread_running = None

    async def call_thread(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await maybe_async(fun(*args, **kwargs))

    async def _gather_remaining_tasks(self) -> None:
        """Nothing: a thread's loop would be left with only aiokafka's tasks, the app's
        has every task of the app (aiokafka's own end with its consumer)."""

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Both read by its fetcher at start.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        consumer._fetch_max_bytes = cast(BatchDeliveringApp, self.app).fetch_max_bytes
        return consumer

    async def on_start(self) -> None:
        """Start aiokafka's consumer, its fetches lingering while records come; a static
        member leaves its group when it stops."""
        await super().on_start()
        linger_ms = cast(BatchDeliveringApp, self.app).fetch_linger_ms
        if linger_ms:
            linger_fetches(self._ensure_consumer()._fetcher, linger_ms)
        coordinator = self._ensure_consumer()._coordinator
        if coordinator is not None and coordinator._group_instance_id is not None:
            coordinator._maybe_leave_group = functools.partial(leave_group, coordinator)

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """One past the last record of each changelog partition that recovery will read."""
        ends: Mapping[TP, int] = await self._ensure_consumer().end_offsets(partitions)
        if not any(ends.values()):
            return ends
        reader = self._tail_reader()
        try:
            await reader.start()
            return await asyncio.wait_for(record_ends(reader, ends), TAIL_READ_TIMEOUT_S)
        except TimeoutError:
            logger.warning("changelog tails not read in %ss; recovery waits for their ends",
                           TAIL_READ_TIMEOUT_S)
            return ends
        finally:
            await reader.stop()

    def _tail_reader(self) -> AIOKafkaConsumer:
        """A consumer of no group that reads as the worker's does (isolation, TLS, SASL)."""
        conf = self.app.conf
        transport = cast(faust_aiokafka.Transport, self.transport)
        return AIOKafkaConsumer(
            client_id=conf.broker_client_id,
            bootstrap_servers=server_list(transport.url, transport.default_port),
            isolation_level=("read_committed" if self.consumer.in_transaction
                             else "read_uncommitted"),
            enable_auto_commit=False,
            request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
            **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context))


def linger_fetches(fetcher: Fetcher, linger_ms: int) -> None:
    """Make a broker hold a fetch up to `linger_ms` for more records when the fetch before
    it brought some, and answer at once once LINGER_MIN_BYTES are there.

    A fetch returns as soon as one record is there, so a steady stream is read an event or
    two at a time, each read costing a fetch and a produce request. A fetch after an empty
    one waits as the consumer was set up to (a record ends it at once), so an idle worker
    asks no more often than before and a lone event is not held. Per broker: one that
    brought nothing does not keep lingering because another brought records.
    """
    fetch = fetcher._proc_fetch_request
    flowing: set[int] = set()

    async def linger_while_flowing(assignment: Any, node_id: int, request: FetchRequest,
                                   ) -> bool:
        if node_id in flowing:
            request._max_wait_ms, request._min_bytes = linger_ms, LINGER_MIN_BYTES
        brought: bool = await fetch(assignment, node_id, request)
        if brought:
            flowing.add(node_id)
        else:
            flowing.discard(node_id)
        return brought

    fetcher._proc_fetch_request = linger_while_flowing


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, delivering routed topics a batch at a time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Held by a table write and its event's ack, and by an exactly-once commit.
        self.commit_gate = asyncio.Lock()

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, thread_loop=self.loop, beacon=self.beacon)

    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True,
                           ) -> bool:
        """With exactly-once, commit a transaction holding the table writes of its offsets."""
        if not self.app.in_transaction:
            committed: bool = await super().force_commit(topics, start_new_transaction)
            return committed
        async with self.commit_gate:
            await self.app.producer.flush()
            committed = await super().force_commit(topics, start_new_transaction)
            return committed

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        super().pause_partitions(tps)
        self._pause_in_fetcher()

    def verify_event_path(self, now: float, tp: TP) -> None:
        if tp not in self._paused_partitions:
            super().verify_event_path(now, tp)

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        super().resume_partitions(tps)
        self._pause_in_fetcher()

    def _pause_in_fetcher(self) -> None:
        """Make aiokafka fetch exactly what Faust asks for: pause what Faust paused."""
        try:
            fetcher = self._thread._ensure_consumer()
        except ConsumerNotStarted:
            return  # it starts with nothing paused and fetches what Faust asks
        assigned = fetcher.assignment()
        paused = {TopicPartition(tp.topic, tp.partition) for tp in self._paused_partitions}
        fetcher.pause(*(assigned & paused))
        fetcher.resume(*(assigned - paused))

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        while not (self.should_stop or fetcher.should_stop):
            self.diag.set_flag(CONSUMER_FETCHING)
            batch = await self._fetched(timeout=1.0)
            await self.sleep(0)
            if batch and not self.should_stop:
                # A rebalance stops delivery mid-batch, as it stops Faust's; what was not
                # delivered is fetched again from the committed offsets.
                await self.wait_first(self._deliver(batch), self.suspend_flow.wait())
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _fetched(self, timeout: float) -> list[tuple[TP, Message]]:
        """What Faust's `getmany` yields for one fetch, built a partition at a time.

        Faust's checks the flow, the generation, the partition and its highwater again for
        every message, through a round-robin iterator: a fifth of a busy heart worker's
        time. Nothing can change them between two messages of one fetch (no await comes
        between), so here each is checked once per fetch or per partition. The order
        within a partition is the fetch's, as before.
        """
        records, active = await self._wait_next_records(timeout)
        if records is None or self.should_stop:
            return []
        if not self.flow_active:
            try:  # as Faust's getmany: back to the committed offsets
                await self.perform_seek()
            except Exception as exc:
                self.log.warning(f"exception performing seek when flow not active {exc}")
            return []
        generation = self.app.consumer_generation_id
        track_end = self.app.monitor.track_tp_end_offset
        buffered = self._buffered_partitions
        batch: list[tuple[TP, Message]] = []
        for tp, fetched in records.items():
            if active is not None and tp not in active and tp not in buffered:
                continue
            track_end(tp, self.highwater(tp))
            batch += [(tp, ConsumerMessage(
                r.topic, r.partition, r.offset, r.timestamp / 1000.0, r.timestamp_type,
                r.headers, r.key, r.value, r.checksum, r.serialized_key_size,
                r.serialized_value_size, tp, generation_id=generation)) for r in fetched]
        return batch

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


class RetryingProducer(AIOKafkaProducer):  # type: ignore[misc]
    """aiokafka's producer, retrying coordinator lookups cut off by a closed connection and
    pausing between metadata updates that fail."""

    async def start(self) -> None:
        await super().start()
        retry_coordinator_lookups(self)
        back_off_failed_metadata_updates(self)


class Producer(faust_aiokafka.Producer):
    """Faust's aiokafka producer, whose transactional producers (with exactly-once, those of
    the counting agent's table) ride out a broker that stops, as the app's own do."""

    @property
    def _producer_type(self) -> type[AIOKafkaProducer]:
        return RetryingProducer


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport, with the batch-delivering consumer."""

    Consumer = Consumer
    Producer = Producer


def retry_coordinator_lookups(producer: AIOKafkaProducer) -> None:
    """Make a started producer retry coordinator lookups cut off by a closed connection."""
    sender = producer._sender
    lookup = sender._find_coordinator

    async def find_coordinator(coordinator_type: Any, coordinator_key: str) -> Any:
        while True:
            try:
                return await lookup(coordinator_type, coordinator_key)
            except KafkaError as exc:
                if not isinstance(exc.__cause__, KafkaConnectionError):
                    raise
                await sender.client.force_metadata_update()
                await asyncio.sleep(sender._retry_backoff)

    sender._find_coordinator = find_coordinator


def back_off_failed_metadata_updates(producer: AIOKafkaProducer) -> None:
    """Make a producer's failed metadata update end only after its retry backoff.

    aiokafka's sender asks for an update whenever it holds records for a partition with
    no known leader, and asks again as soon as one ends. With the broker away an update
    fails at once (connection refused), so a worker with answers in flight spun a core
    on about 3,500 updates a second until the broker came back. Everyone waiting on the
    update (the sender, a failed connection) now waits out the backoff with it.
    """
    client = producer.client
    update = client._metadata_update
    backoff_s: float = producer._sender._retry_backoff

    async def update_or_back_off(cluster: Any, topics: Any) -> bool:
        done: bool = await update(cluster, topics)
        if not done:
            await asyncio.sleep(backoff_s)
        return done

    client._metadata_update = update_or_back_off


def leader_topic(app: faust.App) -> str:
    """The name of the topic Faust's leader assignor declares."""
    name: str = cast(LeaderAssignor, app._leader_assignor)._leader_topic_name
    return name


def commit_gate(app: faust.App) -> asyncio.Lock:
    """What a table write and its event's ack hold, so no commit comes between them."""
    return cast(Consumer, app.consumer).commit_gate
