import pytest

from schemas.errors import InvalidEvent
from schemas.sentiment import Review, decode_review
from tests.examples import DEMO_REVIEW


def test_raw_text_is_the_review() -> None:
    review = decode_review(DEMO_REVIEW.encode())
    assert isinstance(review, Review)
    assert review.text == DEMO_REVIEW


def test_json_object_with_text_is_a_structured_event() -> None:
    assert decode_review(b'  {"text": "Great film", "id": 7}').text == "Great film"


@pytest.mark.parametrize("raw", [b"{not json at all", b'["a", "list"]', b"{}} odd"])
def test_text_that_only_looks_like_json_stays_text(raw: bytes) -> None:
    assert decode_review(raw).text == raw.decode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty review"),
        (b"", "empty review"),
        (b" \n\t ", "empty review"),
        (b"caf\xe9 was bad", "not UTF-8: invalid byte 0xe9 at position 3"),
        (b'{"text": 5}', 'JSON event needs a string field "text"'),
        (b'{"review": "x"}', 'JSON event needs a string field "text"'),
        (b'{"text": "   "}', "empty review"),
    ],
)
def test_bad_reviews_say_why(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode_review(raw)
    assert err.value.reason.startswith(reason)


def test_size_limit_is_configurable() -> None:
    assert decode_review(b"x" * 10, max_chars=10).text == "x" * 10
    with pytest.raises(InvalidEvent, match="11 characters, the limit is 10"):
        decode_review(b"x" * 11, max_chars=10)
