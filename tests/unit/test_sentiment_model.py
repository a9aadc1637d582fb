import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from config.settings import DEFAULT_MODEL_DIR
from models.artifacts import load_model
from models.predictions import predictions
from models.text import LABELS, TOKEN_PATTERN, clean_text, compile_text, probe_reviews
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
    assert predictions(model.estimator.predict_proba([DEMO_REVIEW]), LABELS).labels == [
        DEMO_REVIEW_LABEL]


def test_fixture_reviews_are_mostly_right() -> None:
    model = load_model(DEFAULT_MODEL_DIR / "sentiment.joblib")
    reviews = fixture_reviews()
    labels = predictions(model.estimator.predict_proba([text for text, _ in reviews]),
                         LABELS).labels
    right = sum(label == f"{truth.capitalize()} Sentiment"
                for label, (_, truth) in zip(labels, reviews, strict=True))
    assert right >= 0.8 * len(reviews)  # a broken model scores about half
    assert model.manifest["metrics"]["accuracy"] >= 0.90
    assert model.manifest["size_bytes"] <= 25 * 1024 * 1024


def test_compiled_form_gives_the_pipelines_probabilities() -> None:
    model = load_model(DEFAULT_MODEL_DIR / "sentiment.joblib").estimator
    compiled = compile_text(model)
    assert compiled is not None
    texts = [text for text, _ in fixture_reviews()] + probe_reviews(n=300, seed=5) + [
        "", "<br /><br />", "x" * 10_000, "don't " * 2_000]
    np.testing.assert_allclose(compiled.positive_proba(texts),
                               model.predict_proba(texts)[:, 1], rtol=0, atol=1e-6)
    assert predictions(compiled.positive_proba([DEMO_REVIEW]), LABELS).labels == [
        DEMO_REVIEW_LABEL]


def test_compiled_tfidf_shape_gives_the_pipelines_probabilities() -> None:
    """Sublinear TF-IDF weighs each n-gram by how often it occurs: the counts must match."""
    reviews = fixture_reviews()
    texts = [text for text, _ in reviews]
    model = Pipeline([
        ("hash", HashingVectorizer(preprocessor=clean_text, token_pattern=TOKEN_PATTERN,
                                   ngram_range=(1, 2), n_features=2**18, alternate_sign=False,
                                   norm=None)),
        ("tfidf", TfidfTransformer(sublinear_tf=True)),
        ("clf", LogisticRegression(C=16.0, solver="liblinear")),
    ]).fit(texts, [truth == "positive" for _, truth in reviews])
    compiled = compile_text(model)
    assert compiled is not None and not compiled.binary
    probe = texts + probe_reviews(n=200, seed=9) + ["", "bad bad bad bad good", "x " * 5_000]
    np.testing.assert_allclose(compiled.positive_proba(probe), model.predict_proba(probe)[:, 1],
                               rtol=0, atol=1e-6)


def test_other_shapes_are_not_compiled() -> None:
    model = load_model(DEFAULT_MODEL_DIR / "sentiment.joblib").estimator
    without_tfidf = Pipeline([("hash", model.named_steps["hash"]),
                              ("clf", model.named_steps["clf"])])
    assert compile_text(without_tfidf) is None


def test_pool_process_with_the_compiled_form_never_imports_sklearn(tmp_path: Path) -> None:
    model = load_model(DEFAULT_MODEL_DIR / "sentiment.joblib").estimator
    compiled = compile_text(model)
    assert compiled is not None
    path = tmp_path / "model.pickle"
    path.write_bytes(pickle.dumps(compiled.positive_proba))
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from models.pool import init_process, predict_in_process\n"
        "init_process(Path(sys.argv[1]))\n"
        "print(float(predict_in_process(sys.argv[2:])[0]))\n"
        "assert not any(m == 'sklearn' or m.startswith('sklearn.') for m in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path), DEMO_REVIEW],
                          capture_output=True, cwd=DEFAULT_MODEL_DIR.parent, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    positive = float(done.stdout.decode())
    assert positive == compiled.positive_proba([DEMO_REVIEW])[0] and positive >= 0.5
