"""Train a shipped model from the data folder and write it with its manifest.

    python -m models.train heart --data ../shared/data/heart.csv
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from models.artifacts import save_model, sha256_file
from models.heart import LABELS, candidate_pipelines, choose_heart_pipeline, read_heart_csv
from schemas.heart import FEATURE_KEYS

logger = logging.getLogger(__name__)
MODEL_DIR = Path(__file__).resolve().parent


def train_heart(data: Path, out_dir: Path) -> dict[str, Any]:
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


TRAINERS = {"heart": train_heart}


def main() -> None:
    parser = argparse.ArgumentParser(description="Train a shipped model.")
    parser.add_argument("model", choices=sorted(TRAINERS))
    parser.add_argument("--data", type=Path, required=True, help="training data file")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="folder for the artifact")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    manifest = TRAINERS[args.model](args.data, args.out)
    logger.info("wrote %s (%d bytes): %s", manifest["file"], manifest["size_bytes"],
                manifest["metrics"])


if __name__ == "__main__":
    main()
