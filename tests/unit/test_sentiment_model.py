from sklearn.feature_extraction.text import HashingVectorizer

from models.artifacts import load_model
from models.sentiment import TOKEN_PATTERN, clean_text, predict_sentiment
from settings import DEFAULT_MODEL_DIR
from tests.examples import DEMO_REVIEW, DEMO_REVIEW_LABEL, fixture_reviews


def test_html_breaks_are_spaces_and_case_is_folded() -> None:
    assert clean_text("Great.<br /><br />Really<BR>good") == "great.  really good"


def test_negations_stay_one_token() -> None:
    analyze = HashingVectorizer(preprocessor=clean_text, token_pattern=TOKEN_PATTERN,
                                ngram_range=(1, 2)).build_analyzer()
    tokens = analyze("I don't like it<br />at all")
    assert "don't" in tokens and "don't like" in tokens and "it at" in tokens


def test_demo_review_is_positive() -> None:
    model = load_model(DEFAULT_MODEL_DIR / "sentiment.joblib")
    assert predict_sentiment(model.estimator, [DEMO_REVIEW]) == [DEMO_REVIEW_LABEL]


def test_fixture_reviews_are_mostly_right() -> None:
    model = load_model(DEFAULT_MODEL_DIR / "sentiment.joblib")
    reviews = fixture_reviews()
    labels = predict_sentiment(model.estimator, [text for text, _ in reviews])
    right = sum(label == f"{truth.capitalize()} Sentiment"
                for label, (_, truth) in zip(labels, reviews, strict=True))
    assert right >= 0.8 * len(reviews)  # a broken model scores about half
    assert model.manifest["metrics"]["accuracy"] >= 0.90
    assert model.manifest["size_bytes"] <= 25 * 1024 * 1024
