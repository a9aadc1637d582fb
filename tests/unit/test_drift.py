"""Drift: training profiles, the sliding window of live inputs, and PSI."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from models.drift import DriftWindow, column_profile, psi, training_profile

LABELS = ("no", "yes")


def _profile(rng: np.random.Generator) -> dict[str, object]:
    ages = rng.normal(54, 9, 5000)
    codes = rng.choice([1.0, 2.0, 3.0, 4.0], 5000, p=[0.1, 0.2, 0.2, 0.5])
    return training_profile({"age": ages, "code": codes}, ["yes"] * 1000 + ["no"] * 4000,
                            LABELS)


def _columns(batches: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The test's model input is already its columns, one dict per batch."""
    return {name: np.concatenate([batch[name] for batch in batches]) for name in batches[0]}


def test_few_distinct_values_get_a_bin_each_and_measurements_their_deciles() -> None:
    codes = column_profile(np.array([1, 2, 2, 4, 4, 4, 4, 4.0]))
    assert codes == {"edges": [1.5, 3.0], "shares": [0.125, 0.25, 0.625]}
    measured = column_profile(np.arange(1000.0))
    assert len(measured["edges"]) == 9
    assert measured["shares"] == pytest.approx([0.1] * 10)


def test_psi_is_zero_for_the_training_shares_and_grows_with_the_shift() -> None:
    shares = [0.25, 0.25, 0.5]
    assert psi(shares, np.array([25, 25, 50])) == pytest.approx(0.0)
    # (0.5-0.25)ln2 + (0.25-0.25)*0 + (0.25-0.5)ln(0.5) = 0.5 ln 2
    assert psi(shares, np.array([50, 25, 25])) == pytest.approx(0.5 * np.log(2))
    assert psi(shares, np.array([0, 0, 0])) == 0.0


def test_the_window_sees_a_shift_and_forgets_what_slid_out() -> None:
    rng = np.random.default_rng(7)
    window = DriftWindow(_profile(rng), window=2000, columns=_columns)
    for _ in range(4):
        window.observe({"age": rng.normal(54, 9, 500),
                        "code": rng.choice([1.0, 2.0, 3.0, 4.0], 500, p=[0.1, 0.2, 0.2, 0.5])},
                       ["yes"] * 100 + ["no"] * 400)
    calm = window.feature_psi()
    assert window.events == 2000 and max(calm.values()) < 0.1, calm
    assert window.label_share()["yes"] == {"live": 0.2, "training": 0.2}
    for _ in range(4):  # older patients, same codes, twice the positive answers
        window.observe({"age": rng.normal(70, 9, 500),
                        "code": rng.choice([1.0, 2.0, 3.0, 4.0], 500, p=[0.1, 0.2, 0.2, 0.5])},
                       ["yes"] * 200 + ["no"] * 300)
    shifted = window.feature_psi()
    assert window.events == 2000
    assert shifted["age"] > 0.25 and shifted["code"] < 0.1, shifted
    assert window.label_share()["yes"]["live"] == 0.4
