"""Review sentiment: the scikit-learn text pipeline, its data and its predictions."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

# Re-exported: the shipped artifact refers to `models.sentiment.clean_text` by name.
from models.text import LABELS as LABELS
from models.text import TOKEN_PATTERN as TOKEN_PATTERN
from models.text import clean_text as clean_text

N_FEATURES = 2**20


def build_pipeline(c: float = 8.0) -> Pipeline:
    """Hashed word 1-3-grams, sublinear TF-IDF, logistic regression.

    Hashing keeps no vocabulary, so the artifact's size is bounded by N_FEATURES
    whatever the training set, and vectorising needs no shared state across processes.
    """
    return Pipeline(
        [
            ("hash", HashingVectorizer(
                preprocessor=clean_text, token_pattern=TOKEN_PATTERN, ngram_range=(1, 3),
                n_features=N_FEATURES, alternate_sign=False, norm=None,
                dtype=np.float32,
            )),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
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


def predict_sentiment(estimator: Any, texts: Sequence[str]) -> list[str]:
    """One vectorised prediction for a batch of reviews, as the demo's label strings."""
    positive = estimator.predict_proba(list(texts))[:, 1]
    return [LABELS[int(p >= 0.5)] for p in positive]


def choose_c(texts: list[str], targets: np.ndarray, grid: Sequence[float] = (4.0, 16.0, 64.0),
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


_PROBE_WORDS = ("good", "bad", "great", "awful", "don't", "isn't", "film", "movie", "plot",
                "acting", "loved", "hated", "boring", "brilliant", "not", "very", "the", "a",
                "Ünïcödé", "naïve", "ﾃｽﾄ", "10/10", "<br />", "<BR>", "<i>", "!!!", "o'clock",
                "well-made", "2", "ok", "worst", "best", "",)


def probe_reviews(n: int = 400, seed: int = 20_240_601) -> list[str]:
    """Texts of every length over sentiment words, markup, apostrophes and non-ASCII.

    Used to check that a faster form of a fitted pipeline gives the same probabilities.
    """
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(_PROBE_WORDS, size=int(rng.integers(0, 300))))
            for _ in range(n)]
