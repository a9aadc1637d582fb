"""The README's commands, run as written: from the repository root, in a shell where the
virtualenv is not activated, after the README's one `export PATH=...` line.

The report's four console commands (`--broker-list localhost:9092` included) against a
worker on the demo's own topics, and the README's two-worker honcho line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.examples import DEMO_HEART_LINE, DEMO_REVIEW
from tests.integration.conftest import OUTPUT, ROOT, make_worker

README = (ROOT / "README.md").read_text()
VENV_BIN = str(Path(sys.executable).parent)


def _shown(command: str) -> str:
    """`command` as the README shows it (an indented code line); fails if it is not there."""
    lines = [line.strip() for line in README.splitlines() if line.startswith("    ")]
    found = [line for line in lines if line.startswith(command)]
    assert found, f"the README no longer shows {command!r}"
    return found[0].split("  #")[0].strip()


PATH_LINE = _shown("export PATH=")


def _shell_env(overrides: dict[str, str], bootstrap: str) -> dict[str, str]:
    """The test's settings, with the virtualenv off PATH as in a new terminal."""
    env = {k: v for k, v in overrides.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                  if p != VENV_BIN)
    env["BROKER_URL"] = f"kafka://{bootstrap}"
    return env


def _as_written(command: str, bootstrap: str) -> str:
    """The README's command, pointed at the test's broker when that is not the default."""
    return command.replace("localhost:9092", bootstrap.split(",")[0])


@contextmanager
def _running(command: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(["bash", "-c", f"{PATH_LINE} && {command}"], cwd=ROOT,
                                env=env, stdin=subprocess.PIPE, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def _round_trip(producer: str, consumer: str, line: bytes, answers: tuple[str, ...],
                env: dict[str, str]) -> str:
    """Start the consumer command, send `line` with the producer command until the consumer
    prints one of `answers`; return what it printed."""
    log = OUTPUT / f"readme-consumer-{uuid.uuid4().hex[:6]}.log"
    with _running(consumer, env, log):
        deadline = time.monotonic() + 120
        while not any(a in log.read_text(errors="replace") for a in answers):
            assert time.monotonic() < deadline, f"{consumer!r} printed:\n{log.read_text()}"
            # The consumer starts at the end of the topic once its group has it: send again
            # until an answer sent after that shows.
            sent = subprocess.run(["bash", "-c", f"{PATH_LINE} && {producer}"], cwd=ROOT,
                                  env=env, input=line + b"\n", capture_output=True, timeout=120)
            assert sent.returncode == 0, sent.stdout + sent.stderr
        return log.read_text()


def test_report_console_commands_as_written(bootstrap: str, tmp_path: Path) -> None:
    worker = make_worker(bootstrap, tmp_path, "readme", HEART_INPUT_TOPIC="heartinput",
                         HEART_OUTPUT_TOPIC="heartoutput", SENTIMENT_INPUT_TOPIC="sentimentinput",
                         SENTIMENT_OUTPUT_TOPIC="sentimentoutput")
    env = _shell_env(worker.env, bootstrap)
    worker.start()
    try:
        heart = _round_trip(
            _as_written(_shown("kafka-console-producer --broker-list localhost:9092 --topic "
                               "heartinput"), bootstrap),
            _as_written(_shown("kafka-console-consumer --bootstrap-server localhost:9092 "
                               "--topic heartoutput"), bootstrap),
            DEMO_HEART_LINE, ("Risk of Heart Disease",), env)
        sentiment = _round_trip(
            _as_written(_shown("kafka-console-producer --broker-list localhost:9092 --topic "
                               "sentimentinput"), bootstrap),
            _as_written(_shown("kafka-console-consumer --bootstrap-server localhost:9092 "
                               "--topic sentimentoutput"), bootstrap),
            DEMO_REVIEW.encode(), ("Positive Sentiment", "Negative Sentiment"), env)
    finally:
        worker.stop()
    assert "Risk of Heart Disease" in heart
    assert "Sentiment" in sentiment


def _serves_stats(port: int, token: str) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/stats",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=3) as reply:
            return b'"pipelines"' in reply.read()
    except OSError:
        return False


def test_two_workers_with_honcho_as_written(bootstrap: str,
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    command = _shown("WEB_AUTH_TOKEN=change-me honcho start -c worker=2 worker")
    env = _shell_env(make_worker(bootstrap, tmp_path_factory.mktemp("readme-honcho"),
                                 "readme-honcho").env, bootstrap)
    log = OUTPUT / f"readme-honcho-{uuid.uuid4().hex[:6]}.log"
    with _running(command, env, log) as proc:
        deadline = time.monotonic() + 180
        while not (_serves_stats(5000, "change-me") and _serves_stats(5001, "change-me")):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
    assert "not found" not in log.read_text()
