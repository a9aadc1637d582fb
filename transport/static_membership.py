"""Static group membership: a restarted worker takes its partitions back at once.

A worker joins its consumer group with a stable `group.instance.id` (`WORKER_ID`), so
after a crash the broker hands the returning instance its old partitions without waiting
out the dead member's session timeout. aiokafka, like Kafka's Java client, never sends a
LeaveGroup for a static member, so a worker stopped on purpose (scale down, SIGTERM)
would leave its partitions unread for that same timeout; here a stopping static member
leaves with LeaveGroup v3, the version that names members by instance id (KIP-345).
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Int16, Int32, Schema, String

logger = logging.getLogger(__name__)


class LeaveGroupResponseV3(Response):  # type: ignore[misc]
    API_KEY = 13
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("members", Array(("member_id", String("utf-8")),
                          ("group_instance_id", String("utf-8")),
                          ("error_code", Int16))),
    )


class LeaveGroupRequestV3(RequestStruct):  # type: ignore[misc]
    API_KEY = 13
    API_VERSION = 3
    RESPONSE_TYPE = LeaveGroupResponseV3
    SCHEMA = Schema(
        ("group", String("utf-8")),
        ("members", Array(("member_id", String("utf-8")),
                          ("group_instance_id", String("utf-8")))),
    )


class StaticLeaveGroupRequest(Request[LeaveGroupRequestV3]):  # type: ignore[misc]
    """A static member's request to leave its group now."""

    API_KEY = 13

    def __init__(self, group: str, member_id: str, instance_id: str) -> None:
        self._group = group
        self._member = (member_id, instance_id)

    def build(self, request_struct_class: type[LeaveGroupRequestV3]) -> LeaveGroupRequestV3:
        return request_struct_class(self._group, [self._member])


async def leave_group(coordinator: Any) -> None:
    """Replaces aiokafka's `GroupCoordinator._maybe_leave_group` for a static member.

    One attempt, like aiokafka's own leave: a worker that cannot reach the coordinator
    while stopping is dropped from the group when its session times out.
    """
    instance_id = coordinator._group_instance_id
    if coordinator.generation > 0 and instance_id is not None:
        request = StaticLeaveGroupRequest(coordinator.group_id, coordinator.member_id,
                                          instance_id)
        try:
            response = await coordinator._send_req(request)
        except KafkaError as exc:
            logger.warning("static member %s could not leave group %s: %r",
                           instance_id, coordinator.group_id, exc)
        else:
            codes = [response.error_code] + [m[2] for m in response.members]
            errors = [for_code(code).__name__ for code in codes if code != 0]
            if errors:
                logger.warning("static member %s leaving group %s: %s", instance_id,
                               coordinator.group_id, ", ".join(errors))
            else:
                logger.info("static member %s left group %s", instance_id,
                            coordinator.group_id)
    coordinator.reset_generation()
