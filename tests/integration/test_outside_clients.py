"""Clients nobody here wrote: Kafka's own console tools (the demo's commands) and kcat."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.examples import DEMO_HEART_LABEL, DEMO_HEART_LINE
from tests.integration.conftest import ROOT, Worker

CONSOLE = ROOT / "broker" / "bin"


def _run(cmd: list[str | Path], stdin: bytes = b"", timeout: float = 90) -> str:
    done = subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


def _value_of(key: str, lines: str) -> str:
    """The text after `key<TAB>` on the last line that starts with it, or ''."""
    found = [ln.split("\t", 1)[1] for ln in lines.splitlines() if ln.startswith(key + "\t")]
    return found[-1] if found else ""


def _poll(read: Callable[[], str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not (value := read()):
        assert time.monotonic() < deadline, "nothing arrived in time"
        time.sleep(0.5)
    return value


def test_console_producer_and_consumer_see_the_demo(bootstrap: str, worker: Worker) -> None:
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    key = f"console-{uuid.uuid4().hex}"
    _run([CONSOLE / "kafka-console-producer", "--bootstrap-server", bootstrap,
          "--topic", heart_pipe.input_topic, "--reader-property", "parse.key=true",
          "--reader-property", "key.separator=|"],
         stdin=f"{key}|".encode() + DEMO_HEART_LINE + b"\n")
    # The console consumer exits after --timeout-ms without a new message; with
    # print.headers it shows which model answered: `model.name:heart,...<TAB>key<TAB>value`.
    answer = _poll(lambda: _value_of(key, "\n".join(
        line.partition("\t")[2] for line in _run(
            [CONSOLE / "kafka-console-consumer", "--bootstrap-server", bootstrap,
             "--topic", heart_pipe.output_topic, "--from-beginning",
             "--formatter-property", "print.key=true",
             "--formatter-property", "print.headers=true",
             "--timeout-ms", "5000"], timeout=120).splitlines()
        if line.startswith("model.name:heart,model.version:") and f"\t{key}\t" in line)))
    assert answer == DEMO_HEART_LABEL


def test_kcat_round_trip(bootstrap: str, worker: Worker) -> None:
    kcat = shutil.which("kcat")
    assert kcat, "kcat is not installed: `make test` installs it (apt-get install kcat)"
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    key = f"kcat-{uuid.uuid4().hex}"
    _run([kcat, "-P", "-b", bootstrap, "-t", heart_pipe.input_topic, "-k", key],
         stdin=DEMO_HEART_LINE)
    _run([kcat, "-P", "-b", bootstrap, "-t", heart_pipe.input_topic, "-k", f"{key}-bad"],
         stdin=b"{broken")

    def read(topic: str, fmt: str, wanted: str) -> str:
        return _value_of(wanted, _run([kcat, "-C", "-b", bootstrap, "-t", topic,
                                       "-o", "beginning", "-e", "-q", "-f", fmt]))

    assert _poll(lambda: read(heart_pipe.output_topic, "%k\t%s\n", key)) == DEMO_HEART_LABEL
    # Which model answered, how sure it was and what it answered: kcat shows the headers.
    provenance = _poll(lambda: read(heart_pipe.output_topic, "%k\t%h\n", key))
    version = worker.stats()["pipelines"]["heart"]["model"]["version"]
    assert provenance.startswith(f"model.name=heart,model.version={version},score=0.")
    assert re.search(r",source.partition=\d,source.offset=\d+$", provenance), provenance
    headers = _poll(lambda: read(heart_pipe.dlq_topic, "%k\t%h\n", f"{key}-bad"))
    assert "error.reason=not JSON" in headers
    assert f"source.topic={heart_pipe.input_topic}" in headers
