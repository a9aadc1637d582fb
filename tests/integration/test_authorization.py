"""A broker with SASL users and Kafka's StandardAuthorizer (nothing allowed without an ACL):
the worker runs with exactly the ACLs `faust -A app acls` applies, another user can neither
read answers nor write inputs, and the broker's audit log records each denial."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from tests.examples import DEMO_HEART_LABEL, DEMO_HEART_LINE
from tests.integration.conftest import PrivateBroker, make_worker
from tests.integration.kafka_io import keyed, produce, read_until

PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule required"


def _login(user: str, password: str) -> dict[str, Any]:
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
            "sasl_plain_username": user, "sasl_plain_password": password}


def _kcat_as(user: str, password: str, bootstrap: str, *args: str,
             stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Debian's kcat logged in as `user`: a client nobody here wrote."""
    login = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
             "-X", f"sasl.username={user}", "-X", f"sasl.password={password}"]
    return subprocess.run(["kcat", "-b", bootstrap, *login, *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


async def _intruder_writes(bootstrap: str, topic: str, login: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000,
                                **login)
    await producer.start()
    try:
        await producer.send_and_wait(topic, DEMO_HEART_LINE)
    finally:
        await producer.stop()


async def test_only_the_worker_acls_allow_and_denials_are_audited(tmp_path: Path) -> None:
    passwords = {user: secrets.token_hex(12) for user in ("admin", "app", "intruder")}
    broker = PrivateBroker.create(tmp_path / "kafka", KAFKA_AUTH="1")
    broker.home.mkdir(parents=True)
    (broker.home / "users.properties").write_text(
        "".join(f"{user}={password}\n" for user, password in passwords.items()))
    admin_config = tmp_path / "admin.properties"
    admin_config.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                            f'sasl.jaas.config={PLAIN_LOGIN} username="admin" '
                            f'password="{passwords["admin"]}";\n')
    broker.start()
    worker = make_worker(broker.bootstrap, tmp_path, "authorized",
                         PROCESSING_GUARANTEE="exactly_once",
                         BROKER_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                         BROKER_SASL_USERNAME="app", BROKER_SASL_PASSWORD=passwords["app"])
    heart = worker.settings.pipeline("heart")
    admin, intruder = _login("admin", passwords["admin"]), _login("intruder", passwords["intruder"])
    audit = broker.home / "node-1" / "authorizer.log"
    try:
        applied = worker.command("acls", "User:app", "--apply",
                                 "--command-config", str(admin_config))
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert applied.stdout.count("kafka-acls ") == 5
        worker.start()
        key = f"auth-{uuid.uuid4().hex}".encode()
        await produce(broker.bootstrap, heart.input_topic, [(key, DEMO_HEART_LINE)], **admin)
        answers = await read_until(broker.bootstrap, heart.output_topic,
                                   lambda rs: bool(keyed(rs, {key})), timeout=90,
                                   committed_only=True, **admin)
        assert [r.value for r in keyed(answers, {key})] == [DEMO_HEART_LABEL.encode()]
        assert "User:app is Denied" not in audit.read_text()

        read = _kcat_as("intruder", passwords["intruder"], broker.bootstrap, "-C", "-e",
                        "-o", "beginning", "-t", heart.output_topic)
        assert read.returncode != 0 and "Topic authorization failed" in read.stderr, read
        assert DEMO_HEART_LABEL not in read.stdout
        written = _kcat_as("intruder", passwords["intruder"], broker.bootstrap, "-P",
                           "-t", heart.input_topic, stdin=DEMO_HEART_LINE.decode() + "\n")
        assert written.returncode != 0 and "Topic authorization failed" in written.stderr
        with pytest.raises(TopicAuthorizationFailedError):
            await _intruder_writes(broker.bootstrap, heart.input_topic, intruder)
    finally:
        worker.stop()
        broker.stop()
    denied = [line for line in audit.read_text().splitlines() if "is Denied" in line]
    # Kafka does not even admit the topics exist to a user who may not describe them.
    for topic in (heart.output_topic, heart.input_topic):
        assert any(f"User:intruder is Denied operation = DESCRIBE from host = 127.0.0.1 on "
                   f"resource = Topic:LITERAL:{topic}" in line for line in denied), denied[:5]
    assert not [line for line in denied if "User:app" in line]
