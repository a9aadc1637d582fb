"""The heart patient record, decoded from the demo's JSON with spaced keys.

Ranges (inclusive) accepted for the numeric fields; anything outside is rejected:
age 1-120 years, resting bp s 50-300 mm Hg, cholesterol 0 (not measured) or 50-1000 mg/dl,
max heart rate 30-250 bpm, oldpeak -10 to 10 mm. Categorical codes follow the dataset:
sex 0/1, chest pain type 1-4, fasting blood sugar 0/1, resting ecg 0-2,
exercise angina 0/1, ST slope 0-3.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import faust
import numpy as np
import orjson

from schemas.batch import DecodedBatch, decode_each
from schemas.codes import CodeTable
from schemas.errors import InvalidEvent
from schemas.json_input import json_object, kind


@dataclass(frozen=True)
class FieldSpec:
    """One input field: its JSON key as in the demo, its record name and what it may hold."""

    json_key: str
    name: str
    low: float
    high: float
    codes: frozenset[int] | None = None
    also: frozenset[float] = frozenset()

    def check(self, value: Any) -> float:
        """Return `value` as a float, or raise InvalidEvent saying what is wrong with it."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidEvent(f'"{self.json_key}" must be a number, got {kind(value)}')
        number = float(value)
        if not math.isfinite(number):
            raise InvalidEvent(f'"{self.json_key}" must be a finite number')
        if self.codes is not None:
            if number not in self.codes:
                allowed = ", ".join(str(c) for c in sorted(self.codes))
                raise InvalidEvent(f'"{self.json_key}" must be one of {allowed}, got {value}')
        elif not (self.low <= number <= self.high or number in self.also):
            raise InvalidEvent(
                f'"{self.json_key}" must be between {self.low:g} and {self.high:g}, got {value}'
            )
        return number


def _codes(*values: int) -> frozenset[int]:
    return frozenset(values)


HEART_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("age", "age", 1, 120),
    FieldSpec("sex", "sex", 0, 1, _codes(0, 1)),
    FieldSpec("chest pain type", "chest_pain_type", 1, 4, _codes(1, 2, 3, 4)),
    FieldSpec("resting bp s", "resting_bp_s", 50, 300),
    FieldSpec("cholesterol", "cholesterol", 50, 1000, also=frozenset({0.0})),
    FieldSpec("fasting blood sugar", "fasting_blood_sugar", 0, 1, _codes(0, 1)),
    FieldSpec("resting ecg", "resting_ecg", 0, 2, _codes(0, 1, 2)),
    FieldSpec("max heart rate", "max_heart_rate", 30, 250),
    FieldSpec("exercise angina", "exercise_angina", 0, 1, _codes(0, 1)),
    FieldSpec("oldpeak", "oldpeak", -10, 10),
    FieldSpec("ST slope", "st_slope", 0, 3, _codes(0, 1, 2, 3)),
)
FEATURE_KEYS: tuple[str, ...] = tuple(f.json_key for f in HEART_FIELDS)
#: The answers, by the model's class, as the demo sends them.
LABELS: tuple[str, str] = ("No Risk of Heart Disease", "Risk of Heart Disease")


class HeartEvent(faust.Record, serializer="json"):
    """One patient's measurements, in the model's feature order."""

    age: float
    sex: float
    chest_pain_type: float
    resting_bp_s: float
    cholesterol: float
    fasting_blood_sugar: float
    resting_ecg: float
    max_heart_rate: float
    exercise_angina: float
    oldpeak: float
    st_slope: float

    def features(self) -> list[float]:
        """The values in the order of FEATURE_KEYS."""
        return [getattr(self, f.name) for f in HEART_FIELDS]


def decode_heart_event(raw: bytes | None) -> HeartEvent:
    """Parse a JSON patient record (spaced or snake_case keys); raise InvalidEvent if bad."""
    payload = json_object(raw)
    values: list[float] = []
    for spec in HEART_FIELDS:
        if spec.json_key in payload:
            value = payload[spec.json_key]
        elif spec.name in payload:
            value = payload[spec.name]
        else:
            raise InvalidEvent(f'missing field "{spec.json_key}"')
        values.append(spec.check(value))
    return HeartEvent(*values)



#: The eleven values of a parsed JSON record, in FEATURE_KEYS order (KeyError if one is missing).
FEATURE_VALUES = itemgetter(*FEATURE_KEYS)
_NUMBER_TYPES = frozenset({int, float})  # not bool: a JSON true is not a number here
_LOW = np.array([spec.low for spec in HEART_FIELDS])
_HIGH = np.array([spec.high for spec in HEART_FIELDS])
_RANGED = np.array([spec.codes is None for spec in HEART_FIELDS])
_ALSO = [(column, np.array(sorted(spec.also))) for column, spec in enumerate(HEART_FIELDS)
         if spec.also]


def _allowed_codes() -> CodeTable:
    """True for each code a coded field allows, False for any other value."""
    coded = [(column, sorted(spec.codes)) for column, spec in enumerate(HEART_FIELDS)
             if spec.codes is not None]
    table = CodeTable.of([column for column, _ in coded], [codes for _, codes in coded],
                         [True] * len(coded), fill=False)
    if table is None:
        raise ValueError("heart codes must be whole numbers")
    return table


_CODES = _allowed_codes()


#: Batches of at most this many rows are checked (and the heart model's linear form is
#: evaluated, `models.linear`) row by row in plain Python: up to about 20 rows, numpy's
#: cost per call (about 20 us for the checks, as much for the model) is more than the
#: rows' own. At 1,000 events/s a batch holds one or two events.
ROW_BY_ROW = 16


def decode_heart_batch(raws: Sequence[bytes | None]) -> DecodedBatch:
    """What `decode_heart_event` gives each message, as one feature matrix for the batch.

    The common case (every spaced key present, every value a JSON number) is checked over
    the whole batch (with numpy, or row by row for a few) and builds no record; any other
    message, and any row that fails a check, goes through `decode_heart_event`, whose
    answer or reason it gets.
    """
    rows: list[tuple[Any, ...]] = []
    fast: list[int] = []
    slow: list[int] = []
    loads = orjson.loads
    for index, raw in enumerate(raws):
        try:
            rows.append(FEATURE_VALUES(loads(raw)))  # type: ignore[arg-type]  # None: TypeError
            fast.append(index)
        except (ValueError, TypeError, KeyError):
            slow.append(index)
    checked = _checked_by_row if len(rows) <= ROW_BY_ROW else _checked_by_column
    matrix, fast, failed = checked(rows, fast)
    if failed:
        slow = sorted(slow + failed)
    if not slow:
        return DecodedBatch(matrix, fast, [])
    recovered = decode_each(decode_heart_event, feature_rows, [raws[i] for i in slow])
    if not recovered.valid:
        return DecodedBatch(matrix, fast, [(slow[i], r) for i, r in recovered.rejected])
    valid = fast + [slow[i] for i in recovered.valid]
    order = np.argsort(valid, kind="stable")
    return DecodedBatch(np.vstack([matrix, recovered.features])[order],
                        [valid[i] for i in order],
                        [(slow[i], reason) for i, reason in recovered.rejected])


#: The rows that pass as a matrix, their message indexes, the indexes of those that fail.
Checked = tuple[np.ndarray, list[int], list[int]]


def _checked_by_column(rows: list[tuple[Any, ...]], indexes: list[int]) -> Checked:
    failed: list[int] = []
    if not _NUMBER_TYPES.issuperset(map(type, chain.from_iterable(rows))):
        numeric = [_NUMBER_TYPES.issuperset(map(type, row)) for row in rows]
        failed = [i for i, ok in zip(indexes, numeric, strict=True) if not ok]
        rows = [row for row, ok in zip(rows, numeric, strict=True) if ok]
        indexes = [i for i, ok in zip(indexes, numeric, strict=True) if ok]
    matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(HEART_FIELDS))
    ok = _checks_pass(matrix)
    if ok.all():
        return matrix, indexes, failed
    return (matrix[ok], [indexes[i] for i in np.flatnonzero(ok)],
            failed + [indexes[i] for i in np.flatnonzero(~ok)])


def _checked_by_row(rows: list[tuple[Any, ...]], indexes: list[int]) -> Checked:
    passed = [row_passes(row) for row in rows]
    matrix = np.array([row for row, ok in zip(rows, passed, strict=True) if ok],
                      dtype=np.float64).reshape(-1, len(HEART_FIELDS))
    return (matrix, [i for i, ok in zip(indexes, passed, strict=True) if ok],
            [i for i, ok in zip(indexes, passed, strict=True) if not ok])


_ROW_CHECKS = tuple((spec.codes, spec.low, spec.high, spec.also) for spec in HEART_FIELDS)


def row_passes(row: Sequence[Any]) -> bool:
    """`_checks_pass` for one row of JSON values in FEATURE_KEYS order, in plain Python,
    each value also a JSON number (an int or a float, not a bool)."""
    for value, (codes, low, high, also) in zip(row, _ROW_CHECKS, strict=True):
        if type(value) is float:
            if not math.isfinite(value):
                return False
        elif type(value) is not int:
            return False
        if codes is not None:
            if value not in codes:
                return False
        elif not (low <= value <= high or value in also):
            return False
    return True


def _checks_pass(matrix: np.ndarray) -> np.ndarray:
    """Per row: every value finite, every code known, every measurement in its range."""
    ok = np.isfinite(matrix).all(axis=1)
    ok &= _CODES(matrix).all(axis=1)
    in_range = (matrix >= _LOW) & (matrix <= _HIGH)
    for column, also in _ALSO:
        in_range[:, column] |= (matrix[:, column, None] == also).any(axis=1)
    passed: np.ndarray = ok & in_range[:, _RANGED].all(axis=1)
    return passed


def feature_rows(events: Sequence[HeartEvent]) -> np.ndarray:
    """The model's input for a batch of decoded heart records."""
    return np.asarray([event.features() for event in events], dtype=np.float64)


def drift_columns(batches: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """What drift is watched on, over the feature rows of several batches: every input
    field (`models.drift`)."""
    rows = np.concatenate(batches)
    return {name: rows[:, i] for i, name in enumerate(FEATURE_KEYS)}
