from models.artifacts import load_model
from models.heart import LABELS, predict_labels
from schemas.heart import decode_heart_event
from settings import DEFAULT_MODEL_DIR
from tests.examples import DEMO_HEART_LABEL, DEMO_HEART_LINE, heart_record


def test_demo_patient_is_at_risk() -> None:
    model = load_model(DEFAULT_MODEL_DIR / "heart.joblib")
    rows = [decode_heart_event(DEMO_HEART_LINE).features()]
    assert predict_labels(model.estimator, rows) == [DEMO_HEART_LABEL]


def test_batch_prediction_matches_one_at_a_time() -> None:
    model = load_model(DEFAULT_MODEL_DIR / "heart.joblib")
    rows = [decode_heart_event(heart_record(i)).features() for i in range(200)]
    batch = predict_labels(model.estimator, rows)
    assert batch == [predict_labels(model.estimator, [row])[0] for row in rows]
    assert set(batch) == set(LABELS)
