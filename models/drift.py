"""Do live inputs still look like the training data? Profiles, a sliding window, PSI.

At training time each numeric input column gets fixed bins (its deciles, or one bin per
code for columns with few values) and the share of training rows in each; the labels get
their base rate. This profile travels in the model's manifest. A worker keeps the same
histograms over its last `window` inputs and compares them with the population
stability index, PSI = sum((live - training) * ln(live / training)) over the bins:
below 0.1 is read as no shift, 0.1-0.25 as a moderate one, above 0.25 as a large one.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: A bin that holds nothing on one side would make PSI infinite; shares are floored at this.
SHARE_FLOOR = 1e-4
MAX_CODES = 10  # a column with at most this many distinct values gets one bin per value
PSI_LARGE = 0.25
#: Inputs binned together (see `DriftWindow`).
BIN_EVERY = 512


def column_profile(values: np.ndarray) -> dict[str, list[float]]:
    """Fixed bins of one training column (`edges`: the cut points) and each bin's share."""
    values = np.asarray(values, dtype=np.float64)
    distinct = np.unique(values)
    if len(distinct) <= MAX_CODES:
        edges = (distinct[:-1] + distinct[1:]) / 2
    else:
        edges = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
    counts = np.bincount(np.searchsorted(edges, values, side="right"),
                         minlength=len(edges) + 1)
    return {"edges": [float(e) for e in edges],
            "shares": [round(float(c) / len(values), 6) for c in counts]}


def training_profile(columns: Mapping[str, np.ndarray], labels: Sequence[str],
                     label_names: Sequence[str]) -> dict[str, Any]:
    """The manifest's `profile`: every column's bins and shares, and the label base rate."""
    return {
        "rows": len(labels),
        "features": {name: column_profile(values) for name, values in columns.items()},
        "label_share": {name: round(sum(1 for x in labels if x == name) / len(labels), 6)
                        for name in label_names},
    }


def psi(training: Sequence[float], live: np.ndarray) -> float:
    """Population stability index of live bin counts against training bin shares."""
    expected = np.maximum(np.asarray(training, dtype=np.float64), SHARE_FLOOR)
    total = live.sum()
    if total == 0:
        return 0.0
    actual = np.maximum(live / total, SHARE_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass
class DriftWindow:
    """Bin counts of the last `window` inputs, against a training profile.

    Inputs are binned BIN_EVERY at a time (or when read): binning costs tens of
    microseconds whatever its size, which at a few events per batch was more than
    scoring them. The window slides by those chunks. A batch's model input is kept as it
    is until then and `columns` takes the watched columns of all of them at once (per
    batch and column, a 512-input chunk of batches of two took 2.5 ms on a loaded worker).
    """

    profile: dict[str, Any]
    window: int
    columns: Callable[[Sequence[Any]], Mapping[str, np.ndarray]]
    _chunks: deque[tuple[int, dict[str, np.ndarray], dict[str, int]]] = field(
        default_factory=deque)
    _features: dict[str, np.ndarray] = field(default_factory=dict)
    _labels: dict[str, int] = field(default_factory=dict)
    _events: int = 0
    _pending: list[tuple[Any, Sequence[str]]] = field(default_factory=list)
    _pending_events: int = 0

    @property
    def events(self) -> int:
        self._bin_pending()
        return self._events

    def observe(self, features: Any, labels: Sequence[str]) -> None:
        """Add one batch's model input and answered labels."""
        self._pending.append((features, labels))
        self._pending_events += len(labels)
        if self._pending_events >= BIN_EVERY:
            self._bin_pending()

    def _bin_pending(self) -> None:
        """Bin what was observed since the last time; forget the oldest chunks."""
        if not self._pending:
            return
        pending, self._pending, self._pending_events = self._pending, [], 0
        labels = [label for _, batch in pending for label in batch]
        columns = self.columns([features for features, _ in pending])
        binned = {}
        for name, spec in self.profile["features"].items():
            if name in columns:
                index = np.searchsorted(spec["edges"], columns[name], side="right")
                binned[name] = np.bincount(index, minlength=len(spec["shares"]))
        counted = dict(Counter(labels))
        self._add(len(labels), binned, counted, sign=1)
        self._chunks.append((len(labels), binned, counted))
        while self._chunks and self._events - self._chunks[0][0] >= self.window:
            self._add(*self._chunks.popleft(), sign=-1)

    def _add(self, n: int, binned: dict[str, np.ndarray], counted: dict[str, int],
             sign: int) -> None:
        self._events += sign * n
        for name, counts in binned.items():
            self._features[name] = self._features.get(name, 0) + sign * counts
        for label, k in counted.items():
            self._labels[label] = self._labels.get(label, 0) + sign * k

    def feature_psi(self) -> dict[str, float]:
        self._bin_pending()
        return {name: round(psi(self.profile["features"][name]["shares"], counts), 4)
                for name, counts in self._features.items()}

    def label_share(self) -> dict[str, dict[str, float | None]]:
        """Per label: its share of the window's answers and of the training rows."""
        self._bin_pending()
        return {label: {"live": round(self._labels.get(label, 0) / self.events, 4)
                        if self.events else None, "training": training}
                for label, training in self.profile["label_share"].items()}

    def summary(self) -> dict[str, Any]:
        return {"window_events": self.events, "feature_psi": self.feature_psi(),
                "label_share": self.label_share()}
