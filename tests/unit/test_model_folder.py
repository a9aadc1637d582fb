"""A worker's pool model files live in a folder named for it; a gone worker's are removed."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from models.predictors import MODEL_FOLDER_PREFIX, model_folder


def test_folders_of_gone_workers_are_removed_and_running_ones_kept() -> None:
    root = Path(tempfile.gettempdir())
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, check=True)
    dead = root / f"{MODEL_FOLDER_PREFIX}{int(gone.stdout)}"
    running = root / f"{MODEL_FOLDER_PREFIX}{os.getppid()}"
    ours = not running.exists()  # the parent may be a worker with a folder of its own
    for folder in (dead, running):
        folder.mkdir(exist_ok=True)
        (folder / "model.pickle").write_bytes(b"x")
    try:
        mine = model_folder()
        assert mine == root / f"{MODEL_FOLDER_PREFIX}{os.getpid()}" and mine.is_dir()
        assert not dead.exists()
        assert (running / "model.pickle").exists()
    finally:
        (running / "model.pickle").unlink()
        if ours:
            running.rmdir()
