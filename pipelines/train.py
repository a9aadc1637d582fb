"""Train the registered pipelines' artifacts from the data folder, or check their figures.

    python -m pipelines.train --data ../shared/data                   # train every pipeline
    python -m pipelines.train heart --data ../shared/data             # train one
    python -m pipelines.train --evaluate --data ../shared/data        # reproduce the manifests
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pipelines.registry import trainable

logger = logging.getLogger(__name__)
MODEL_DIR = Path(__file__).resolve().parents[1] / "models"


def main() -> None:
    pipelines = trainable()
    parser = argparse.ArgumentParser(description="Train the shipped models, or check them.")
    parser.add_argument("names", nargs="*", metavar="PIPELINE",
                        help=f"of {', '.join(sorted(pipelines))} (default: all)")
    parser.add_argument("--data", type=Path, required=True, help="the data folder")
    parser.add_argument("--models", type=Path, default=MODEL_DIR, help="the artifacts' folder")
    parser.add_argument("--evaluate", action="store_true",
                        help="reproduce the figures in the manifests instead of training")
    args = parser.parse_args()
    if unknown := set(args.names) - set(pipelines):
        parser.error(f"no trainable pipeline {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    names = args.names or sorted(pipelines)
    if args.evaluate:
        if not all([pipelines[name].evaluate(args.data, args.models) for name in names]):
            sys.exit(1)
        return
    for name in names:
        manifest = pipelines[name].train(args.data, args.models)
        logger.info("wrote %s (%d bytes): %s", manifest["file"], manifest["size_bytes"],
                    manifest["metrics"])


if __name__ == "__main__":
    main()
