"""What one pipeline is, declared once: record, decoder, model, how it predicts, examples.

Settings, topic creation, the agents, `/stats`, `/metrics`, the dashboard, `replay`,
`train`, `evaluate` and the bench all iterate the registered declarations
(`pipelines.registry`) instead of naming pipelines; topic names and settings are
derived from `name`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import faust
import numpy as np

from models.predictions import ProbaFn
from schemas.batch import DecodedBatch, decode_each

T = TypeVar("T")
PredictIn = Literal["threads", "processes"]
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: The shipped example inputs.
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass(frozen=True)
class Option:
    """A whole-number setting of one pipeline, read from `<NAME>_<OPTION>`.

    Its value is passed to the pipeline's decoder as the keyword argument `name`.
    """

    name: str
    default: int
    low: int
    high: int
    help: str

    @property
    def suffix(self) -> str:
        return self.name.upper()


@dataclass(frozen=True)
class Examples:
    """Where `replay` and the bench take a pipeline's messages from.

    `message` turns one row of a JSONL or CSV file into the message's bytes; with
    `numeric_csv`, CSV cells that read as numbers arrive as numbers, as a JSON producer
    would send them.
    """

    path: Path
    message: Callable[[dict[str, Any]], bytes]
    numeric_csv: bool = False


@dataclass(frozen=True)
class Training:
    """How `make train` and `make eval` rebuild and check the artifact from the data folder.

    `module` names a module with `train(data_dir, model_dir)`, which writes the artifact and
    returns its manifest, and `evaluate(data_dir, model_dir)`, which prints the figures and
    is True when they match it. It is imported only when called: training code imports
    scikit-learn, which a worker scoring with fast forms never loads.
    """

    module: str

    def train(self, data_dir: Path, model_dir: Path) -> dict[str, Any]:
        result: dict[str, Any] = import_module(self.module).train(data_dir, model_dir)
        return result

    def evaluate(self, data_dir: Path, model_dir: Path) -> bool:
        return bool(import_module(self.module).evaluate(data_dir, model_dir))


def no_fast_form(estimator: Any) -> ProbaFn | None:
    """For models that only run as themselves."""
    return None


@dataclass(frozen=True)
class PipelineSpec(Generic[T]):
    """One pipeline.

    - `decode(raw, **options)` turns a message value into a `record`, or raises
      `schemas.errors.InvalidEvent` with the reason its dead letter carries.
    - `features(records)` is the model's input for a batch of decoded records.
    - `decode_batch(raws, **options)`, optional, does both for a whole batch at once and
      must agree with them message for message (a property test holds it to that).
    - `labels[i]` is the answer for class `i` of the model; the value sent is its text.
    - `fast_form(estimator)` returns a faster function giving the same probabilities,
      verified against the estimator, or None.
    - `probe()` gives model input that `artifacts publish` scores before publishing.
    - `drift_columns(batches)` names the numeric columns of several batches' model input
      (one sequence of rows) that drift is watched on (`models.drift`); the manifest's
      `profile` has their training bins.
    - `predict_in`: "threads" runs the fast form on the event loop when there is one and
      the estimator in the app's thread executor otherwise; "processes" runs either in a
      process pool of the pipeline's own (`<NAME>_PROCESSES`), for CPU-heavy pure-Python
      work that threads would serialise on the interpreter lock. The fast form must then
      pickle.
    """

    name: str
    record: type[faust.Record]
    decode: Callable[..., T]
    features: Callable[[Sequence[T]], Any]
    labels: tuple[str, ...]
    model_file: str
    decode_batch: Callable[..., DecodedBatch] | None = None
    fast_form: Callable[[Any], ProbaFn | None] = no_fast_form
    predict_in: PredictIn = "threads"
    options: tuple[Option, ...] = ()
    probe: Callable[[], Any] | None = None
    drift_columns: Callable[[Sequence[Any]], Mapping[str, np.ndarray]] | None = None
    examples: Examples | None = None
    training: Training | None = None
    bench_events: int = 20_000

    def batch_decoder(self, options: Mapping[str, Any]
                      ) -> Callable[[Sequence[bytes | None]], DecodedBatch]:
        """The batch decoder, with the pipeline's option settings bound."""
        if self.decode_batch is not None:
            return partial(self.decode_batch, **options)
        return partial(decode_each, partial(self.decode, **options), self.features)

    @property
    def env_prefix(self) -> str:
        """Prefix of this pipeline's settings: `HEART` reads `HEART_INPUT_TOPIC`, ..."""
        return self.name.upper()

    @property
    def default_input_topic(self) -> str:
        return f"{self.name}input"

    @property
    def default_output_topic(self) -> str:
        return f"{self.name}output"
