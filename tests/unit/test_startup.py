"""The worker refuses to start on a bad setting or model, with one clear message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from config.settings import DEFAULT_MODEL_DIR

ROOT = Path(__file__).resolve().parents[2]


def _start_worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    faust = Path(sys.executable).parent / "faust"
    return subprocess.run([str(faust), "-A", "app", "worker", "-l", "info"], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)


def test_bad_settings_stop_the_worker_with_each_reason() -> None:
    done = _start_worker({"WEB_PORT": "seventy", "TOPIC_PARTITIONS": "0"})
    assert done.returncode == 2
    assert "WEB_PORT='seventy' must be a whole number" in done.stderr
    assert "TOPIC_PARTITIONS=0 is out of range" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_broker_stops_the_worker_with_one_message() -> None:
    done = _start_worker({"BROKER_URL": "kafka://127.0.0.1:1", "BROKER_WAIT_SECONDS": "2"})
    assert done.returncode != 0
    assert done.stderr.count("cannot start: no Kafka broker answered at 127.0.0.1:1") == 1
    assert "Traceback" not in done.stderr


def _model_dir_copy(tmp_path: Path) -> Path:
    for name in ("heart.joblib", "heart.json", "sentiment.joblib", "sentiment.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    return tmp_path


def test_tampered_model_stops_the_worker_before_unpickling(tmp_path: Path) -> None:
    models = _model_dir_copy(tmp_path)
    with (models / "heart.joblib").open("ab") as f:
        f.write(b"tampered")
    done = _start_worker({"MODEL_DIR": str(models)})
    assert done.returncode != 0
    assert "cannot start: refusing to load" in done.stderr
    assert "does not match the manifest" in done.stderr
    assert done.stderr.count("refusing to load") == 1 and "Traceback" not in done.stderr


def test_model_from_another_sklearn_version_stops_the_worker(tmp_path: Path) -> None:
    models = _model_dir_copy(tmp_path)
    manifest = json.loads((models / "sentiment.json").read_text())
    manifest["sklearn_version"] = "1.2.0"
    (models / "sentiment.json").write_text(json.dumps(manifest))
    done = _start_worker({"MODEL_DIR": str(models)})
    assert done.returncode != 0
    assert "trained with scikit-learn 1.2.0" in done.stderr
    assert done.stderr.count("refusing to load") == 1 and "Traceback" not in done.stderr


def test_missing_model_stops_the_worker(tmp_path: Path) -> None:
    models = _model_dir_copy(tmp_path)
    (models / "heart.joblib").unlink()
    done = _start_worker({"MODEL_DIR": str(models)})
    assert done.returncode != 0
    assert done.stderr.count("heart.joblib is missing") == 1 and "Traceback" not in done.stderr


def test_model_whose_code_is_missing_stops_the_worker(tmp_path: Path) -> None:
    models = _model_dir_copy(tmp_path)
    manifest = json.loads((models / "heart.json").read_text())
    source = tmp_path / "gone"
    source.mkdir()
    (source / "vanished_module.py").write_text("class Model:\n    pass\n")
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path\n"
              "from vanished_module import Model\nfrom models.artifacts import save_model\n"
              "save_model(Model(), Path(sys.argv[2]), {})\n")
    subprocess.run([sys.executable, "-c", script, str(source), str(models / "heart.joblib")],
                   check=True, cwd=ROOT)
    saved = json.loads((models / "heart.json").read_text())
    (models / "heart.json").write_text(json.dumps({**manifest, "sha256": saved["sha256"]}))
    done = _start_worker({"MODEL_DIR": str(models)})
    assert done.returncode != 0
    assert "No module named 'vanished_module'" in done.stderr
    assert done.stderr.count("cannot load") == 1 and "Traceback" not in done.stderr
