import json
import shutil
from pathlib import Path

import pytest

from config.settings import DEFAULT_MODEL_DIR
from models.artifacts import ModelLoadError, load_model


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    for name in ("heart.joblib", "heart.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    return tmp_path / "heart.joblib"


def test_shipped_model_loads_with_its_manifest(model_copy: Path) -> None:
    model = load_model(model_copy)
    assert model.labels == ("No Risk of Heart Disease", "Risk of Heart Disease")
    assert model.manifest["metrics"]["accuracy"] >= 0.85
    assert model.manifest["metrics"]["roc_auc"] >= 0.91


def test_changed_file_is_refused_before_unpickling(model_copy: Path) -> None:
    model_copy.write_bytes(model_copy.read_bytes() + b"\0")
    with pytest.raises(ModelLoadError, match="does not match the manifest"):
        load_model(model_copy)


def test_other_sklearn_version_is_refused(model_copy: Path) -> None:
    manifest_file = model_copy.with_suffix(".json")
    manifest = json.loads(manifest_file.read_text())
    manifest["sklearn_version"] = "0.24.2"
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"trained with scikit-learn 0\.24\.2"):
        load_model(model_copy)


def test_missing_model_and_manifest_say_what_to_do(model_copy: Path) -> None:
    model_copy.with_suffix(".json").unlink()
    with pytest.raises(ModelLoadError, match=r"manifest .* is missing"):
        load_model(model_copy)
    model_copy.unlink()
    with pytest.raises(ModelLoadError, match=r"model file .* is missing"):
        load_model(model_copy)
