"""Heart-disease risk: the scikit-learn pipeline, its training and evaluation.

Its fast form is `models.linear`; a worker scoring with that never imports this module.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from models.artifacts import read_manifest, save_model, sha256_file
from models.drift import training_profile
from schemas.heart import FEATURE_KEYS, LABELS, drift_columns

logger = logging.getLogger(__name__)

SEED = 20_240_601

_CATEGORICAL = ("chest pain type", "resting ecg", "ST slope")
_SCALED = ("age", "resting bp s", "max heart rate", "oldpeak")
_BINARY = ("sex", "fasting blood sugar", "exercise angina")


def _columns(names: Sequence[str]) -> list[int]:
    return [FEATURE_KEYS.index(n) for n in names]


class ZeroAsMissing(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """One column where 0 means 'not measured': the training median fills it, a flag marks it.

    Does what SimpleImputer(missing_values=0, add_indicator=True) does, without its
    per-call probe for pandas, which cost about a tenth of the heart pipeline's time.
    """

    def fit(self, x: np.ndarray, y: Any = None) -> ZeroAsMissing:
        column = np.asarray(x, dtype=np.float64)[:, 0]
        self.median_ = float(np.median(column[column != 0]))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        column = np.asarray(x, dtype=np.float64)[:, :1]
        missing = column == 0
        return np.hstack([np.where(missing, self.median_, column), missing])


def _preprocessor() -> ColumnTransformer:
    """One-hot for codes, scaling for measurements; cholesterol 0 means 'not measured'."""
    cholesterol = make_pipeline(ZeroAsMissing(), StandardScaler())
    return ColumnTransformer(
        [
            ("codes", OneHotEncoder(handle_unknown="ignore"), _columns(_CATEGORICAL)),
            ("scaled", StandardScaler(), _columns(_SCALED)),
            ("cholesterol", cholesterol, _columns(["cholesterol"])),
            ("binary", "passthrough", _columns(_BINARY)),
        ]
    )


def candidate_pipelines() -> dict[str, Pipeline]:
    """The classifiers cross-validation chooses between, each behind the same pre-processing."""
    return {
        "logistic_regression": Pipeline(
            [("prep", _preprocessor()), ("clf", LogisticRegression(C=0.3, max_iter=2000))]
        ),
        "random_forest": Pipeline(
            [
                ("prep", _preprocessor()),
                ("clf", RandomForestClassifier(
                    n_estimators=200, min_samples_leaf=2, random_state=SEED, n_jobs=1
                )),
            ]
        ),
        "gradient_boosting": Pipeline(
            [
                ("prep", _preprocessor()),
                ("clf", HistGradientBoostingClassifier(
                    max_iter=200, learning_rate=0.05, max_depth=3, random_state=SEED
                )),
            ]
        ),
    }


def read_heart_csv(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Features and targets of the de-duplicated rows, and how many duplicates were dropped."""
    with path.open(newline="") as f:
        rows = [tuple(float(r[k]) for k in (*FEATURE_KEYS, "target")) for r in csv.DictReader(f)]
    unique = list(dict.fromkeys(rows))
    data = np.array(unique, dtype=np.float64)
    return data[:, :-1], data[:, -1].astype(np.int64), len(rows) - len(unique)


def cross_validate_heart(pipeline: Pipeline, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Stratified 10-fold figures (means and standard deviations) with a fixed seed."""
    from sklearn.model_selection import StratifiedKFold, cross_validate

    folds = StratifiedKFold(n_splits=10, shuffle=True, random_state=SEED)
    scores = cross_validate(pipeline, x, y, cv=folds,
                            scoring=("accuracy", "roc_auc", "precision", "recall", "f1"))
    metrics: dict[str, float] = {}
    for name in ("accuracy", "roc_auc", "precision", "recall", "f1"):
        values = scores[f"test_{name}"]
        metrics[name] = round(float(values.mean()), 4)
        metrics[f"{name}_std"] = round(float(values.std()), 4)
    return metrics


def choose_heart_pipeline(
    x: np.ndarray, y: np.ndarray, *, tolerance: float = 0.005
) -> tuple[str, dict[str, dict[str, float]]]:
    """Cross-validate every candidate; pick the first within `tolerance` ROC AUC of the best.

    Candidates are listed fastest first, so a slower model wins only by more than
    the tolerance, which is below the fold-to-fold spread of this small data set.
    """
    results = {}
    for name, pipeline in candidate_pipelines().items():
        results[name] = cross_validate_heart(pipeline, x, y)
        logger.info("heart %s: %s", name, results[name])
    best = max(r["roc_auc"] for r in results.values())
    chosen = next(n for n, r in results.items() if r["roc_auc"] >= best - tolerance)
    return chosen, results


def train(data_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Choose a classifier by cross-validation, fit it on all unique rows, save it."""
    data = data_dir / "heart.csv"
    x, y, duplicates = read_heart_csv(data)
    logger.info("heart: %d unique rows (%d duplicates dropped)", len(y), duplicates)
    chosen, results = choose_heart_pipeline(x, y)
    logger.info("heart: chose %s", chosen)
    pipeline = candidate_pipelines()[chosen].fit(x, y)
    return save_model(
        pipeline,
        out_dir / "heart.joblib",
        {
            "estimator": chosen,
            "features": list(FEATURE_KEYS),
            "labels": list(LABELS),
            "training_data": {"file": data.name, "sha256": sha256_file(data),
                              "rows": len(y) + duplicates, "unique_rows": len(y)},
            "metrics": {"evaluation": "stratified 10-fold cross-validation, de-duplicated rows",
                        **results[chosen]},
            "candidates": results,
            "profile": training_profile(drift_columns([x]), [LABELS[t] for t in y], LABELS),
        },
    )


def evaluate(data_dir: Path, model_dir: Path) -> bool:
    """Re-run the manifest's cross-validation; True when every figure matches."""
    data = data_dir / "heart.csv"
    manifest = read_manifest(model_dir / "heart.joblib")
    if sha256_file(data) != manifest["training_data"]["sha256"]:
        print(f"warning: {data} differs from the data the model was trained on")
    x, y, _ = read_heart_csv(data)
    figures = cross_validate_heart(candidate_pipelines()[manifest["estimator"]], x, y)
    ok = True
    print(f"heart ({manifest['estimator']}), {manifest['metrics']['evaluation']}:")
    for name, value in figures.items():
        shipped = manifest["metrics"].get(name)
        same = shipped is not None and abs(shipped - value) < 1e-9
        ok &= same
        print(f"  {name:14} {value:.4f}  manifest {shipped}  {'ok' if same else 'DIFFERS'}")
    return ok
