"""The heart pipeline's logistic regression as a few numpy operations.

scikit-learn spends about 2 ms per `predict_proba` call on input checks in each step of
the ColumnTransformer; at the few dozen rows a batch holds under live traffic, that is
most of the model's cost. One-hot codes, scaling and the cholesterol fill are all
per-column and the classifier is linear, so the fitted pipeline's decision function is a
sum of per-column terms that can be read off its fitted steps. `compile_heart` does that
only for the exact structure `models.heart` trains, and the result is used only after it
reproduced the pipeline's probabilities on probe rows (see `verified_fast_form`).

scikit-learn is imported only where a fitted pipeline is read: the compiled form runs
without it, so a worker that scores with it never loads scikit-learn (`models.loader`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from models.predictions import ProbaFn
from schemas.codes import CodeTable
from schemas.heart import HEART_FIELDS, ROW_BY_ROW

_STEPS = ("codes", "scaled", "cholesterol", "binary")


@dataclass(frozen=True)
class LinearHeart:
    """Decision function = intercept + code terms + weighted standardised measurements."""

    intercept: float
    code_terms: CodeTable  # each coded column's weight per code; 0 for codes not trained on
    scaled_columns: np.ndarray
    scaled_mean: np.ndarray
    scaled_weights: np.ndarray  # already divided by the scale
    fill_column: int
    fill_value: float
    fill_mean: np.ndarray  # [value, missing flag]
    fill_weights: np.ndarray
    passthrough_columns: np.ndarray
    passthrough_weights: np.ndarray

    @cached_property
    def scalar(self) -> ScalarHeart:
        return ScalarHeart(self)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class for each row of `x`; a few rows one by one
        in plain Python, where numpy's cost per call is more than the rows' own."""
        if len(x) <= ROW_BY_ROW:
            decision = self.scalar.decision
            return np.array([logistic(decision(row)) for row in x.tolist()])
        z = self.intercept + self.code_terms(x).sum(axis=1)
        z += (x[:, self.scaled_columns] - self.scaled_mean) @ self.scaled_weights
        raw = x[:, self.fill_column]
        missing = raw == 0
        filled = np.column_stack([np.where(missing, self.fill_value, raw), missing])
        z += (filled - self.fill_mean) @ self.fill_weights
        z += x[:, self.passthrough_columns] @ self.passthrough_weights
        result: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return result


class ScalarHeart:
    """A LinearHeart's terms as plain Python numbers, for one row at a time."""

    def __init__(self, linear: LinearHeart) -> None:
        self.intercept = linear.intercept
        terms = linear.code_terms
        self.codes = [(column, terms.entries(column)) for column in terms.columns.tolist()]
        self.scaled = list(zip(linear.scaled_columns.tolist(), linear.scaled_mean.tolist(),
                               linear.scaled_weights.tolist(), strict=True))
        self.fill = (linear.fill_column, linear.fill_value, *linear.fill_mean.tolist(),
                     *linear.fill_weights.tolist())
        self.passthrough = list(zip(linear.passthrough_columns.tolist(),
                                    linear.passthrough_weights.tolist(), strict=True))

    def decision(self, row: Sequence[float]) -> float:
        """The decision function: the log-odds of the positive class."""
        z: float = self.intercept
        for column, weights in self.codes:
            z += weights.get(row[column], 0.0)
        for column, mean, weight in self.scaled:
            z += (row[column] - mean) * weight
        column, fill_value, value_mean, flag_mean, value_weight, flag_weight = self.fill
        missing = row[column] == 0
        z += ((fill_value if missing else row[column]) - value_mean) * value_weight
        z += (float(missing) - flag_mean) * flag_weight
        for column, weight in self.passthrough:
            z += row[column] * weight
        return z


def logistic(z: float) -> float:
    """1 / (1 + e^-z), without overflow for any z."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def compile_heart(pipeline: Any) -> LinearHeart | None:
    """Read the decision function off a fitted heart pipeline; None if it has another shape."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if not isinstance(pipeline, Pipeline) or [n for n, _ in pipeline.steps] != ["prep", "clf"]:
        return None
    prep, clf = pipeline.named_steps["prep"], pipeline.named_steps["clf"]
    if not (isinstance(prep, ColumnTransformer) and isinstance(clf, LogisticRegression)
            and len(clf.classes_) == 2 and prep.remainder == "drop"):
        return None
    steps = {name: (step, columns) for name, step, columns in prep.transformers_
             if name != "remainder"}
    if tuple(steps) != _STEPS:
        return None
    (codes, code_cols), (scaler, scaled_cols) = steps["codes"], steps["scaled"]
    (fill_pipe, fill_cols), (passthrough, pass_cols) = steps["cholesterol"], steps["binary"]
    if not (isinstance(codes, OneHotEncoder) and codes.drop is None
            and isinstance(scaler, StandardScaler) and _passes_through(passthrough)
            and isinstance(fill_pipe, Pipeline) and len(fill_pipe.steps) == 2
            and isinstance(fill_pipe.steps[1][1], StandardScaler) and len(fill_cols) == 1):
        return None
    filler, fill_scaler = fill_pipe.steps[0][1], fill_pipe.steps[1][1]
    if not hasattr(filler, "median_"):
        return None
    weights = clf.coef_[0]
    slices = prep.output_indices_
    code_weights = weights[slices["codes"]]
    per_column, start = [], 0
    for categories in codes.categories_:
        per_column.append(code_weights[start:start + len(categories)])
        start += len(categories)
    terms = CodeTable.of(code_cols, codes.categories_, per_column, fill=0.0)
    if terms is None:
        return None
    return LinearHeart(
        intercept=float(clf.intercept_[0]),
        code_terms=terms,
        scaled_columns=np.asarray(scaled_cols),
        scaled_mean=scaler.mean_,
        scaled_weights=weights[slices["scaled"]] / scaler.scale_,
        fill_column=int(fill_cols[0]),
        fill_value=float(filler.median_),
        fill_mean=fill_scaler.mean_,
        fill_weights=weights[slices["cholesterol"]] / fill_scaler.scale_,
        passthrough_columns=np.asarray(pass_cols),
        passthrough_weights=weights[slices["binary"]],
    )


def _passes_through(step: Any) -> bool:
    """'passthrough' as declared, or the identity FunctionTransformer it becomes once fitted."""
    from sklearn.preprocessing import FunctionTransformer

    return step == "passthrough" or (isinstance(step, FunctionTransformer) and step.func is None)


def verified_fast_form(pipeline: Any, probe: np.ndarray) -> ProbaFn | None:
    """The compiled form if it matches `pipeline` on `probe` to 1e-9, else None: over the
    whole probe at once and one row at a time (its two ways of computing)."""
    compiled = compile_heart(pipeline)
    if compiled is None:
        return None
    expected = pipeline.predict_proba(probe)[:, 1]
    one_by_one = np.concatenate([compiled.predict_proba(row[None, :]) for row in probe])
    if not (np.allclose(compiled.predict_proba(probe), expected, rtol=0.0, atol=1e-9)
            and np.allclose(one_by_one, expected, rtol=0.0, atol=1e-9)):
        return None
    return compiled.predict_proba


def probe_rows(n: int = 5000, seed: int = 20_240_601) -> np.ndarray:
    """Valid feature rows over every field's range and code set, with cholesterol 0 included.

    Used to check that a faster form of a fitted pipeline gives the same probabilities.
    """
    rng = np.random.default_rng(seed)
    columns = []
    for spec in HEART_FIELDS:
        if spec.codes is not None:
            columns.append(rng.choice(sorted(spec.codes), size=n).astype(np.float64))
        else:
            values = rng.uniform(spec.low, spec.high, size=n)
            for special in spec.also:
                values[rng.random(n) < 0.1] = special
            columns.append(values)
    return np.column_stack(columns)


def fast_form(estimator: Any) -> ProbaFn | None:
    """The linear form of a fitted heart pipeline, verified on probe rows."""
    return verified_fast_form(estimator, probe_rows())
