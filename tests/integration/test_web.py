"""The worker's web view against the real broker: /stats, /metrics, the dashboard and Procfile."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.examples import DEMO_REVIEW, heart_record
from tests.integration.conftest import OUTPUT, ROOT, Worker, free_port, make_worker
from tests.integration.kafka_io import keyed, produce, read_until, wait_for


async def test_stats_document_has_every_documented_field(bootstrap: str, worker: Worker) -> None:
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    sentiment_pipe = s.pipeline("sentiment")
    run = uuid.uuid4().hex[:6]
    await produce(bootstrap, heart_pipe.input_topic,
                  [(f"{run}-{i}".encode(), heart_record(i)) for i in range(20)])
    await produce(bootstrap, sentiment_pipe.input_topic,
                  [(f"{run}-r".encode(), DEMO_REVIEW.encode())])
    outputs = await read_until(bootstrap, heart_pipe.output_topic, lambda rs: len(rs) > 0)
    assert outputs
    stats = worker.stats()
    assert stats["app_id"] == s.app_id
    assert stats["processing_guarantee"] == "at_least_once"
    assert set(stats["worker"]) >= {"host", "pid", "assigned", "local_counts"}
    assert stats["worker"]["assigned"][heart_pipe.input_topic] == [0, 1, 2, 3]
    for name in ("heart", "sentiment"):
        p = stats["pipelines"][name]
        assert set(p) >= {"topics", "labels", "dead_letters", "total", "events_per_second",
                          "lag", "lag_total", "model"}
        assert set(p["model"]) >= {"file", "version", "estimator", "sklearn_version", "sha256",
                                   "metrics"}
        assert p["model"]["version"] == p["model"]["sha256"][:12]
        assert p["model"]["metrics"]["accuracy"] > 0.85
    def lag_of_every_partition() -> bool:
        return set(worker.stats()["pipelines"]["heart"]["lag"]) == {"0", "1", "2", "3"}

    await wait_for(lag_of_every_partition, "lag of every heart partition")


async def test_metrics_count_events_and_labels(bootstrap: str, worker: Worker) -> None:
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    run = uuid.uuid4().hex[:6]
    keys = {f"{run}-{i}".encode() for i in range(10)}
    await produce(bootstrap, heart_pipe.input_topic, [(k, heart_record(7)) for k in keys])
    await produce(bootstrap, heart_pipe.input_topic, [(f"{run}-bad".encode(), b"nope")])
    await read_until(bootstrap, heart_pipe.output_topic, lambda rs: len(keyed(rs, keys)) == 10)
    await read_until(bootstrap, heart_pipe.dlq_topic,
                     lambda rs: bool(keyed(rs, {f"{run}-bad".encode()})))
    text = worker.page("/metrics")
    for name in ("inference_events_in_total{pipeline=\"heart\"}",
                 "inference_predictions_total{label=",
                 "inference_dead_letters_total{pipeline=\"heart\"}",
                 "inference_batch_size_bucket", "inference_model_seconds_bucket"):
        assert name in text, name


def test_dashboard_page_is_self_contained(worker: Worker) -> None:
    html = worker.page("/")
    assert "<svg" in html or "createElementNS" in html
    assert 'fetch("stats"' in html
    # No CDN: nothing is loaded from elsewhere, so the page works without internet.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)


def _get(port: int, path: str, authorization: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_procfile_worker_serves_only_token_holders(
        bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The Procfile binds every interface, so the web view wants WEB_AUTH_TOKEN."""
    token = uuid.uuid4().hex
    env = make_worker(bootstrap, tmp_path_factory.mktemp("honcho"), "honcho",
                      WEB_AUTH_TOKEN=token).env
    port = free_port()
    log = (OUTPUT / f"honcho-{uuid.uuid4().hex[:6]}.log").open("wb")
    honcho = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "honcho"
    proc = subprocess.Popen([str(honcho), "start", "-p", str(port), "worker"], cwd=ROOT,
                            env={**env, "PATH": f"{honcho.parent}:{env['PATH']}"},
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    bearer = f"Bearer {token}"
    basic = "Basic " + base64.b64encode(f"anyone:{token}".encode()).decode()
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "honcho exited"
            try:
                if '"pipelines"' in _get(port, "/stats", bearer)[1]:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Procfile's worker never served /stats"
            time.sleep(0.5)
        for path in ("/", "/stats", "/metrics", "/router/"):
            status, body = _get(port, path)
            assert status == 401 and "WEB_AUTH_TOKEN" in body, (path, status)
            assert _get(port, path, "Bearer wrong")[0] == 401
            assert token not in body
        assert _get(port, "/", basic)[0] == 200
        status, metrics = _get(port, "/metrics", bearer)
        assert status == 200 and "inference_events_in_total" in metrics
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert token not in Path(log.name).read_text(errors="replace")


def test_worker_beyond_loopback_without_token_refuses_to_start(
        bootstrap: str, tmp_path: Path) -> None:
    worker = make_worker(bootstrap, tmp_path, "open")
    faust = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "faust"
    done = subprocess.run([str(faust), "-A", "app", "worker", "--web-bind", "0.0.0.0"],
                          cwd=ROOT, env=worker.env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "without a token; set WEB_AUTH_TOKEN" in done.stdout + done.stderr
