"""Example inputs shared by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

#: The demo's exact input line (seed, DEMO 1).
DEMO_HEART_LINE = (
    b'{"age": 60, "sex": 1, "chest pain type": 4, "resting bp s": 140, "cholesterol": 280, '
    b'"fasting blood sugar": 0, "resting ecg": 0, "max heart rate": 172, "exercise angina": 0, '
    b'"oldpeak": 2.5, "ST slope": 1}'
)
DEMO_HEART_LABEL = "Risk of Heart Disease"
HEART_LABELS = {"Risk of Heart Disease", "No Risk of Heart Disease"}


def heart_record(i: int) -> bytes:
    """A valid patient record that varies with `i`."""
    return orjson.dumps({
        "age": 30 + i % 45, "sex": i % 2, "chest pain type": 1 + i % 4,
        "resting bp s": 100 + i % 80, "cholesterol": (0 if i % 7 == 0 else 150 + i % 200),
        "fasting blood sugar": i % 2, "resting ecg": i % 3, "max heart rate": 90 + i % 100,
        "exercise angina": (i // 2) % 2, "oldpeak": (i % 40) / 10, "ST slope": 1 + i % 3,
    })


#: Malformed heart inputs and the reason each must be dead-lettered with.
BAD_HEART_INPUTS: list[tuple[bytes, str]] = [
    (b"not json", "not JSON"),
    (b"[1, 2, 3]", "expected a JSON object, got an array"),
    (DEMO_HEART_LINE.replace(b', "oldpeak": 2.5', b""), 'missing field "oldpeak"'),
    (DEMO_HEART_LINE.replace(b'"age": 60', b'"age": "sixty"'), '"age" must be a number'),
    (DEMO_HEART_LINE.replace(b'"chest pain type": 4', b'"chest pain type": 9'),
     '"chest pain type" must be one of 1, 2, 3, 4'),
    (DEMO_HEART_LINE.replace(b'"max heart rate": 172', b'"max heart rate": 900'),
     '"max heart rate" must be between 30 and 250'),
    (b"", "empty message"),
]


#: The demo's review (seed, DEMO 2): favourable, though the demo's model called it negative.
DEMO_REVIEW = (
    'I used to watch this show when I was growing up. When I think about it, I remember it pr'
    "etty well. If you ask me, it was a pretty good show. Anytime I think about it, I don't r"
    'emember the opening sequence and theme song very well. In addition to that, everyone was'
    ' ideally cast. Also, the writing was very strong. The performances were top-grade, too. '
    "I hope some network brings it back so I can see every episode. Before I wrap this up, I'"
    "d like to say that I'll always remember this show in my memory forever, even though I'm "
    "not sure if I've seen every episode. Now, in conclusion, if some network ever brings it "
    'back, I hope that you catch it one day before it goes off the air for good.'
)
DEMO_REVIEW_LABEL = "Positive Sentiment"
SENTIMENT_LABELS = {"Positive Sentiment", "Negative Sentiment"}

#: 60 reviews from the IMDB test split (Maas et al., ACL 2011), alternating positive and negative.
REVIEWS_FILE = Path(__file__).resolve().parents[1] / "examples" / "imdb_reviews.jsonl"


def fixture_reviews() -> list[tuple[str, str]]:
    """(review text, "positive" or "negative") pairs from the shipped fixture."""
    rows = [json.loads(line) for line in REVIEWS_FILE.read_text(encoding="utf-8").splitlines()]
    return [(r["review"], r["sentiment"]) for r in rows]
