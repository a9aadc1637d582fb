import numpy as np

from config.settings import DEFAULT_MODEL_DIR
from models.artifacts import load_model
from models.linear import LinearHeart, compile_heart, fast_form, probe_rows
from models.predictions import ProbaFn, predictions
from schemas.heart import LABELS, decode_heart_event, feature_rows
from tests.examples import DEMO_HEART_LABEL, DEMO_HEART_LINE, heart_record

MODEL = load_model(DEFAULT_MODEL_DIR / "heart.joblib").estimator


def _fast() -> ProbaFn:
    fast = fast_form(MODEL)
    assert fast is not None, "the shipped heart model has a verified fast form"
    return fast


FAST = _fast()


def _labels(proba: ProbaFn, records: list[bytes]) -> list[str]:
    return predictions(proba(feature_rows([decode_heart_event(r) for r in records])), LABELS).labels


def sklearn_proba(rows: np.ndarray) -> np.ndarray:
    result: np.ndarray = MODEL.predict_proba(rows)[:, 1]
    return result


def test_demo_patient_is_at_risk() -> None:
    assert _labels(FAST, [DEMO_HEART_LINE]) == [DEMO_HEART_LABEL]
    assert _labels(MODEL.predict_proba, [DEMO_HEART_LINE]) == [DEMO_HEART_LABEL]


def test_batch_prediction_matches_one_at_a_time() -> None:
    records = [heart_record(i) for i in range(200)]
    batch = _labels(FAST, records)
    assert batch == [_labels(FAST, [record])[0] for record in records]
    assert set(batch) == set(LABELS)


def test_shipped_pipeline_compiles_to_the_same_probabilities() -> None:
    compiled = compile_heart(MODEL)
    assert compiled is not None
    rows = np.vstack([probe_rows(n=20_000, seed=7),
                      [decode_heart_event(heart_record(i)).features() for i in range(300)]])
    expected = sklearn_proba(rows)
    np.testing.assert_allclose(compiled.predict_proba(rows), expected, rtol=0, atol=1e-12)
    few = [compiled.predict_proba(rows[i : i + n]) for i, n in _chunks(5000, sizes=(1, 2, 3, 4))]
    np.testing.assert_allclose(np.concatenate(few), expected[:5000], rtol=0, atol=1e-12)
    assert isinstance(getattr(FAST, "__self__", None), LinearHeart)


def _chunks(total: int, sizes: tuple[int, ...]) -> list[tuple[int, int]]:
    """(start, size) of consecutive chunks covering `total` rows, cycling through `sizes`."""
    chunks: list[tuple[int, int]] = []
    start = 0
    while start < total:
        size = min(sizes[len(chunks) % len(sizes)], total - start)
        chunks.append((start, size))
        start += size
    return chunks


def test_unknown_codes_weigh_nothing_as_in_the_pipeline() -> None:
    compiled = compile_heart(MODEL)
    assert compiled is not None
    rows = probe_rows(n=50, seed=3)
    rows[:, 2] = 9.0  # chest pain type outside the training codes
    np.testing.assert_allclose(compiled.predict_proba(rows), sklearn_proba(rows),
                               rtol=0, atol=1e-12)
    one_by_one = np.concatenate([compiled.predict_proba(row[None, :]) for row in rows])
    np.testing.assert_allclose(one_by_one, sklearn_proba(rows), rtol=0, atol=1e-12)


def test_other_shapes_have_no_fast_form() -> None:
    from sklearn.base import clone
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    forest = Pipeline([("prep", clone(MODEL.named_steps["prep"])),
                       ("clf", RandomForestClassifier(n_estimators=3, random_state=0))])
    forest.fit(probe_rows(n=200, seed=1), np.arange(200) % 2)
    assert compile_heart(forest) is None
    assert fast_form(forest) is None
