"""App commands: `faust -A app create-topics`."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from agents.topics import ALL_TOPICS, label_to_count
from app import app

logger = logging.getLogger(__name__)


@app.command()
async def create_topics() -> None:
    """Create every topic the app uses (idempotent), so several workers can share them."""
    settings = app.settings
    names = [t.get_topic_name() for t in ALL_TOPICS]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)
            for name in names if name not in existing
        ]
        changelog = label_to_count.changelog_topic.get_topic_name()
        if changelog not in existing:
            wanted.append(NewTopic(
                changelog, settings.topic_partitions, settings.topic_replication_factor,
                topic_configs={"cleanup.policy": "compact"},
            ))
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                logger.info("a topic was created concurrently; continuing")
        for topic in wanted:
            print(f"created {topic.name} ({topic.num_partitions} partitions)")
        print(f"{len(names) + 1 - len(wanted)} topics already existed")
    finally:
        await admin.close()
