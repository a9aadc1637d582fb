"""Train a shipped model from the data folder and write it with its manifest.

    python -m models.train heart --data ../shared/data/heart.csv
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from models import sentiment
from models.artifacts import save_model, sha256_file
from models.heart import LABELS, candidate_pipelines, choose_heart_pipeline, read_heart_csv
from schemas.heart import FEATURE_KEYS

logger = logging.getLogger(__name__)
MODEL_DIR = Path(__file__).resolve().parent


def train_heart(data: Path, test: Path | None, out_dir: Path) -> dict[str, Any]:
    """Choose a classifier by cross-validation, fit it on all unique rows, save it."""
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
        },
    )


def train_sentiment(data: Path, test: Path | None, out_dir: Path) -> dict[str, Any]:
    """Choose C by cross-validation on the train split, fit, score once on the test split."""
    if test is None:
        raise SystemExit("sentiment needs --test (the held-out split, e.g. imdb_test.csv.gz)")
    from sklearn.metrics import accuracy_score, roc_auc_score

    texts, targets = sentiment.read_reviews(data)
    logger.info("sentiment: %d training reviews; choosing C by 3-fold CV", len(texts))
    c, cv_scores = sentiment.choose_c(texts, targets)
    logger.info("sentiment: CV accuracy by C %s; fitting C=%s on all of them", cv_scores, c)
    pipeline = sentiment.build_pipeline(c).fit(texts, targets)
    test_texts, test_targets = sentiment.read_reviews(test)
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
            "estimator": f"hashed 1-3-gram tf-idf + logistic regression (C={c})",
            "features": f"{sentiment.N_FEATURES} hashed word n-grams",
            "labels": list(sentiment.LABELS),
            "training_data": {"file": data.name, "sha256": sha256_file(data),
                              "rows": len(texts)},
            "test_data": {"file": test.name, "sha256": sha256_file(test)},
            "metrics": metrics,
        },
    )


TRAINERS = {"heart": train_heart, "sentiment": train_sentiment}


def main() -> None:
    parser = argparse.ArgumentParser(description="Train a shipped model.")
    parser.add_argument("model", choices=sorted(TRAINERS))
    parser.add_argument("--data", type=Path, required=True, help="training data file")
    parser.add_argument("--test", type=Path, help="held-out evaluation data (sentiment)")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="folder for the artifact")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    manifest = TRAINERS[args.model](args.data, args.test, args.out)
    logger.info("wrote %s (%d bytes): %s", manifest["file"], manifest["size_bytes"],
                manifest["metrics"])


if __name__ == "__main__":
    main()
