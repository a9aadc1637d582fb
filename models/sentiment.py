"""Review sentiment: the scikit-learn text pipeline, its training, evaluation and fast form."""

from __future__ import annotations

import csv
import gzip
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import normalize

from models.artifacts import load_model, save_model, sha256_file
from models.drift import training_profile
from models.predictions import predictions

# Re-exported: the shipped artifact refers to `models.sentiment.clean_text` by name.
from models.text import LABELS, TOKEN_PATTERN
from models.text import clean_text as clean_text
from schemas.sentiment import drift_columns

logger = logging.getLogger(__name__)
N_FEATURES = 2**21


class LogCountRatio(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """NBSVM's features (Wang and Manning, 2012): n-gram indicators scaled by how much
    more often each n-gram occurs in positive than in negative training reviews
    (the log-count ratio), then l2-normalised.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, x: sparse.csr_matrix, y: np.ndarray) -> LogCountRatio:
        y = np.asarray(y)
        positive = self.alpha + np.asarray(x[y == 1].sum(axis=0)).ravel()
        negative = self.alpha + np.asarray(x[y == 0].sum(axis=0)).ravel()
        self.ratio_ = np.log((positive / positive.sum()) / (negative / negative.sum())
                             ).astype(np.float32)
        return self

    def transform(self, x: sparse.csr_matrix) -> sparse.csr_matrix:
        scaled: sparse.csr_matrix = normalize(sparse.csr_matrix(x.multiply(self.ratio_)))
        return scaled


def build_pipeline(c: float = 64.0) -> Pipeline:
    """Hashed word 1-3-gram indicators, log-count ratios, logistic regression.

    Hashing keeps no vocabulary, so the artifact's size is bounded by N_FEATURES
    whatever the training set, and vectorising needs no shared state across processes.
    """
    return Pipeline(
        [
            ("hash", HashingVectorizer(
                preprocessor=clean_text, token_pattern=TOKEN_PATTERN, ngram_range=(1, 3),
                n_features=N_FEATURES, alternate_sign=False, norm=None, binary=True,
                dtype=np.float32,
            )),
            ("nb", LogCountRatio()),
            ("clf", LogisticRegression(C=c, solver="liblinear", max_iter=1000)),
        ]
    )


def read_reviews(path: Path) -> tuple[list[str], np.ndarray]:
    """Reviews and 0/1 targets (1 = positive) from a gzip CSV `id,rating,sentiment,review`."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    texts = [r["review"] for r in rows]
    targets = np.array([r["sentiment"] == "positive" for r in rows], dtype=np.int64)
    return texts, targets


def choose_c(texts: list[str], targets: np.ndarray, grid: Sequence[float] = (16.0, 64.0, 256.0),
             ) -> tuple[float, dict[str, float]]:
    """Regularisation chosen by 3-fold cross-validated accuracy on the training set only."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=7)
    scores = {
        str(c): round(float(cross_val_score(build_pipeline(c), texts, targets, cv=folds).mean()), 4)
        for c in grid
    }
    best = max(grid, key=lambda c: scores[str(c)])
    return best, scores


def train(data_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Choose C by cross-validation on the train split, fit, score once on the test split."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    data, test = data_dir / "imdb_train.csv.gz", data_dir / "imdb_test.csv.gz"
    train_texts, targets = read_reviews(data)
    logger.info("sentiment: %d training reviews; choosing C by 3-fold CV", len(train_texts))
    c, cv_scores = choose_c(train_texts, targets)
    logger.info("sentiment: CV accuracy by C %s; fitting C=%s on all of them", cv_scores, c)
    pipeline = build_pipeline(c).fit(train_texts, targets)
    test_texts, test_targets = read_reviews(test)
    logger.info("sentiment: scoring %d held-out test reviews", len(test_texts))
    positive = pipeline.predict_proba(test_texts)[:, 1]
    metrics = {
        "evaluation": f"held-out test split ({test.name}), never trained on",
        "accuracy": round(float(accuracy_score(test_targets, positive >= 0.5)), 4),
        "roc_auc": round(float(roc_auc_score(test_targets, positive)), 4),
        "test_reviews": len(test_texts),
        "cv_accuracy_by_c": cv_scores,
    }
    return save_model(
        pipeline,
        out_dir / "sentiment.joblib",
        {
            "estimator": f"hashed 1-3-gram log-count ratios (NBSVM) + logistic regression (C={c})",
            "features": f"{N_FEATURES} hashed word n-grams",
            "labels": list(LABELS),
            "training_data": {"file": data.name, "sha256": sha256_file(data),
                              "rows": len(train_texts)},
            "test_data": {"file": test.name, "sha256": sha256_file(test)},
            "metrics": metrics,
            "profile": training_profile(drift_columns([train_texts]),
                                        [LABELS[t] for t in targets], LABELS),
        },
    )


def evaluate(data_dir: Path, model_dir: Path) -> bool:
    """Score the shipped model on the held-out test split; True when accuracy matches."""
    data = data_dir / "imdb_test.csv.gz"
    model = load_model(model_dir / "sentiment.joblib")
    test_texts, targets = read_reviews(data)
    labels = predictions(model.estimator.predict_proba(test_texts), LABELS).labels
    right = sum(label == LABELS[t] for label, t in zip(labels, targets, strict=True))
    accuracy = round(right / len(test_texts), 4)
    shipped = model.manifest["metrics"]["accuracy"]
    print(f"sentiment, {len(test_texts)} reviews of {data.name}: accuracy {accuracy:.4f}, "
          f"manifest {shipped}  {'ok' if accuracy == shipped else 'DIFFERS'}")
    return bool(accuracy == shipped)
