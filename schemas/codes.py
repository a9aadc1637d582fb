"""Coded columns looked up in one table: one numpy lookup for every coded column of a batch.

A search per column (`np.isin`, `np.searchsorted`) cost more than the rest of a small
batch's decoding or scoring. The heart decoder checks its codes with one such table
(`schemas.heart`) and the heart model's linear form weights them with another
(`models.linear`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CodeTable:
    """A value for each whole-number code of some columns; `fill` for any other value."""

    columns: np.ndarray
    least: np.ndarray  # each column's least code
    values: np.ndarray  # [column, code - least]
    fill: Any
    rows: np.ndarray  # 0..len(columns)-1, to index `values` with

    @classmethod
    def of(cls, columns: Sequence[int], codes: Sequence[Any], values: Sequence[Any],
           fill: Any) -> CodeTable | None:
        """Each column's codes and their values; None if a code is not a whole number."""
        arrays = [np.asarray(c, dtype=np.float64) for c in codes]
        if not all(np.array_equal(c, np.floor(c)) for c in arrays):
            return None
        least = np.array([c.min() for c in arrays])
        table = np.full((len(arrays), int(max(c.max() - c.min() for c in arrays)) + 1), fill)
        for row, (c, v) in enumerate(zip(arrays, values, strict=True)):
            table[row, (c - least[row]).astype(np.intp)] = v
        return cls(np.asarray(columns), least, table, fill, np.arange(len(arrays)))

    def entries(self, column: int) -> dict[float, Any]:
        """Code -> value of one of the columns, where the value is not `fill`."""
        row = int(np.flatnonzero(self.columns == column)[0])
        return {float(self.least[row] + i): v.item() for i, v in enumerate(self.values[row])
                if v != self.fill}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The value of each coded column of each row of `x` (rows x coded columns)."""
        above = x[:, self.columns] - self.least
        known = (above == np.floor(above)) & (above >= 0) & (above < self.values.shape[1])
        index = np.where(known, above, 0).astype(np.intp)
        found: np.ndarray = np.where(known, self.values[self.rows, index], self.fill)
        return found
