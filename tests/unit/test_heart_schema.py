import math

import pytest

from schemas.errors import InvalidEvent
from schemas.heart import FEATURE_KEYS, HeartEvent, decode_heart_event
from tests.examples import BAD_HEART_INPUTS, DEMO_HEART_LINE


def test_demo_line_decodes_to_a_record_in_feature_order() -> None:
    event = decode_heart_event(DEMO_HEART_LINE)
    assert isinstance(event, HeartEvent)
    assert event.chest_pain_type == 4 and event.st_slope == 1 and event.oldpeak == 2.5
    assert event.features() == [60, 1, 4, 140, 280, 0, 0, 172, 0, 2.5, 1]
    assert len(event.features()) == len(FEATURE_KEYS)


def test_snake_case_keys_and_extra_keys_are_accepted() -> None:
    snake = (b'{"age": 60, "sex": 1, "chest_pain_type": 4, "resting_bp_s": 140, '
             b'"cholesterol": 0, "fasting_blood_sugar": 0, "resting_ecg": 0, '
             b'"max_heart_rate": 172, "exercise_angina": 0, "oldpeak": 2.5, "st_slope": 1, '
             b'"patient": "x"}')
    assert decode_heart_event(snake).cholesterol == 0


@pytest.mark.parametrize(("raw", "reason"), BAD_HEART_INPUTS)
def test_bad_input_says_why(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode_heart_event(raw)
    assert err.value.reason.startswith(reason)


@pytest.mark.parametrize("value", ["true", "null", "[1]", "1e400"])
def test_age_must_be_a_finite_number(value: str) -> None:
    raw = DEMO_HEART_LINE.replace(b'"age": 60', f'"age": {value}'.encode())
    with pytest.raises(InvalidEvent) as err:
        decode_heart_event(raw)
    assert '"age"' in err.value.reason or "not JSON" in err.value.reason


def test_nan_is_not_json() -> None:
    with pytest.raises(InvalidEvent, match="not JSON"):
        decode_heart_event(DEMO_HEART_LINE.replace(b'"age": 60', b'"age": NaN'))


def test_cholesterol_between_zero_and_fifty_is_rejected() -> None:
    with pytest.raises(InvalidEvent, match='"cholesterol" must be between 50 and 1000'):
        decode_heart_event(DEMO_HEART_LINE.replace(b'"cholesterol": 280', b'"cholesterol": 20'))
    assert not math.isnan(decode_heart_event(DEMO_HEART_LINE).cholesterol)
