"""Reproduce a shipped model's published figures from the data folder.

    python -m models.evaluate heart --data ../shared/data/heart.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models import sentiment
from models.artifacts import load_model, read_manifest, sha256_file
from models.heart import candidate_pipelines, cross_validate_heart, read_heart_csv

MODEL_DIR = Path(__file__).resolve().parent


def evaluate_heart(data: Path, model_dir: Path) -> bool:
    """Re-run the manifest's cross-validation; True when every figure matches."""
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


def evaluate_sentiment(data: Path, model_dir: Path) -> bool:
    """Score the shipped model on the held-out test split; True when accuracy matches."""
    model = load_model(model_dir / "sentiment.joblib")
    texts, targets = sentiment.read_reviews(data)
    labels = sentiment.predict_sentiment(model.estimator, texts)
    right = sum(label == sentiment.LABELS[t] for label, t in zip(labels, targets, strict=True))
    accuracy = round(right / len(texts), 4)
    shipped = model.manifest["metrics"]["accuracy"]
    print(f"sentiment, {len(texts)} reviews of {data.name}: accuracy {accuracy:.4f}, "
          f"manifest {shipped}  {'ok' if accuracy == shipped else 'DIFFERS'}")
    return bool(accuracy == shipped)


EVALUATORS = {"heart": evaluate_heart, "sentiment": evaluate_sentiment}


def main() -> None:
    parser = argparse.ArgumentParser(description="Reproduce a shipped model's figures.")
    parser.add_argument("model", choices=sorted(EVALUATORS))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--models", type=Path, default=MODEL_DIR)
    args = parser.parse_args()
    if not EVALUATORS[args.model](args.data, args.models):
        sys.exit(1)


if __name__ == "__main__":
    main()
