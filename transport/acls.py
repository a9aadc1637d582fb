"""The least a worker's Kafka user must be allowed, as Kafka's own `kafka-acls` commands.

With an authorizer that denies what no ACL allows (`allow.everyone.if.no.acl.found=false`)
a worker needs exactly this: read its inputs, write its answers and dead letters, read and
write the topics, transactions and consumer group named after its app id (counts, table
changelog, published models, Faust's leader topic; exactly-once producers), create its
topics if they are missing, and describe them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import Settings


@dataclass(frozen=True)
class Grant:
    """Operations allowed on resources of one kind of pattern, as one `kafka-acls --add`."""

    operations: tuple[str, ...]
    resources: tuple[tuple[str, str], ...]  # (kafka-acls option, name)
    pattern: str = "literal"

    def arguments(self, principal: str) -> list[str]:
        """`kafka-acls` arguments adding this grant for `principal`."""
        return ["--add", "--allow-principal", principal,
                *(arg for op in self.operations for arg in ("--operation", op)),
                *(arg for option, name in self.resources for arg in (f"--{option}", name)),
                "--resource-pattern-type", self.pattern]


def worker_grants(settings: Settings) -> list[Grant]:
    """Every ACL a worker of `settings` needs, and no other."""
    own = f"{settings.app_id}-"
    return [
        Grant(("Read", "Describe", "Create"),
              tuple(("topic", p.input_topic) for p in settings.pipelines)),
        Grant(("Write", "Describe", "Create"),
              tuple(("topic", name) for p in settings.pipelines
                    for name in (p.output_topic, p.dlq_topic))),
        Grant(("Read", "Write", "Describe", "Create"), (("topic", own),), "prefixed"),
        Grant(("Write", "Describe"), (("transactional-id", own),), "prefixed"),
        Grant(("Read", "Describe"), (("group", settings.app_id),)),
    ]
