"""Where a pipeline's model runs: on the event loop, in the app's threads, or in processes.

Only a fast form verified against the model runs on the event loop: it costs tens of
microseconds a batch, less than handing the batch to a thread. Anything else (a forest,
a pipeline with no fast form) would stall every other agent while it runs, so it goes to
an executor the app owns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from models.pool import init_process, predict_in_process
from models.predictions import ProbaFn

logger = logging.getLogger(__name__)

MODEL_FOLDER_PREFIX = "kafka-inference-models-"  # + the worker's pid


class Predictor(Protocol):
    """Class probabilities for a batch's model input."""

    @property
    def where(self) -> str: ...

    async def __call__(self, features: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class OnLoop:
    """A verified fast form, called on the event loop."""

    proba: ProbaFn
    where = "event loop (verified fast form)"

    async def __call__(self, features: Any) -> np.ndarray:
        return self.proba(features)


@dataclass(frozen=True)
class InThreads:
    """The model itself, in the app's thread executor."""

    proba: ProbaFn
    executor: Executor
    where = "thread executor"

    async def __call__(self, features: Any) -> np.ndarray:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.proba, features)


@dataclass(frozen=True)
class InProcesses:
    """A pool of processes, each with its own copy of the model; one chunk per process."""

    pool: ProcessPoolExecutor
    processes: int

    @property
    def where(self) -> str:
        return f"process pool ({self.processes} processes)"

    async def __call__(self, features: Any) -> np.ndarray:
        loop = asyncio.get_running_loop()
        results = await asyncio.gather(*(
            loop.run_in_executor(self.pool, predict_in_process, chunk)
            for chunk in split(features, self.processes)))
        return np.concatenate(results)


def split(items: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    """Up to `parts` contiguous chunks of nearly equal size, in order."""
    size = max(1, -(-len(items) // parts))
    return [items[i : i + size] for i in range(0, len(items), size)]


class Executors:
    """The thread pool and the process pools models run in; the app owns and stops them."""

    def __init__(self) -> None:
        self._pools: list[ProcessPoolExecutor] = []
        #: This worker's model files (`model_folder`): its pools' models, published chunks.
        self._models: Path | None = None

    def folder(self) -> Path:
        """This worker's folder for model files, removed when the executors shut down."""
        if self._models is None:
            self._models = model_folder()
        return self._models

    @cached_property
    def threads(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                  thread_name_prefix="model")

    def processes(self, size: int, model: ProbaFn | bytes) -> ProcessPoolExecutor:
        """A pool of `size` processes scoring with `model` (a fast form, or artifact bytes).

        `spawn` keeps the children free of the event loop's threads and sockets; they
        start on the first batch and read the model from a file (`models.pool`), so the
        worker keeps no copy of it.
        """
        with tempfile.NamedTemporaryFile(dir=self.folder(), suffix=".pickle",
                                         delete=False) as file:
            pickle.dump(model, file, protocol=pickle.HIGHEST_PROTOCOL)
        path = Path(file.name)
        pool = ProcessPoolExecutor(max_workers=size, mp_context=get_context("spawn"),
                                   initializer=init_process, initargs=(path,))
        self._pools.append(pool)
        return pool

    def retire(self, pool: ProcessPoolExecutor) -> None:
        """Shut a pool down once its last work is done, without waiting for it here."""
        self._pools.remove(pool)
        pool.shutdown(wait=False)

    def shutdown(self) -> None:
        if "threads" in self.__dict__:
            self.threads.shutdown(wait=True)
        for pool in self._pools:
            pool.shutdown(wait=True)

    def remove_files(self) -> None:
        """Remove this worker's model files, once nothing can still use them: a retired
        pool's process may still be starting, and the app's tasks (which keep published
        chunks there) stop after the executors do."""
        if self._models is not None:
            shutil.rmtree(self._models)


def model_folder() -> Path:
    """This worker's folder for its pools' model files, made after removing those of
    workers that are gone: a killed worker leaves its own behind."""
    root = Path(tempfile.gettempdir())
    for folder in root.glob(f"{MODEL_FOLDER_PREFIX}*"):
        pid = folder.name.removeprefix(MODEL_FOLDER_PREFIX)
        if pid.isdigit() and not _running(int(pid)):
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                logger.warning("could not remove a gone worker's model files %s: %r",
                               folder, exc)
    mine = root / f"{MODEL_FOLDER_PREFIX}{os.getpid()}"
    mine.mkdir(exist_ok=True)
    return mine


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def build_predictor(*, estimator: Any, fast: ProbaFn | None,
                    predict_in: Literal["threads", "processes"], artifact: bytes,
                    processes: int, executors: Executors) -> Predictor:
    """Where a model runs, given its verified fast form (or None) and its pipeline's choice."""
    if predict_in == "processes":
        return InProcesses(executors.processes(processes, fast or artifact), processes)
    if fast is not None:
        return OnLoop(fast)
    return InThreads(estimator.predict_proba, executors.threads)
