"""The C n-gram hasher against scikit-learn's HashingVectorizer, the reference it replaces."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from models._ngrams import hashed_ngrams
from models.text import TOKEN_PATTERN, clean_text, probe_reviews
from tests.examples import fixture_reviews

N_FEATURES = 2**21


def reference(texts: list[str], low: int, high: int) -> sparse.csr_matrix:
    """How often each hashed n-gram occurs in each text, as scikit-learn counts them."""
    vectorizer = HashingVectorizer(preprocessor=clean_text, token_pattern=TOKEN_PATTERN,
                                   ngram_range=(low, high), n_features=N_FEATURES,
                                   alternate_sign=False, norm=None)
    return vectorizer.transform(texts)


def counted(texts: list[str], low: int, high: int) -> sparse.csr_matrix:
    indices, per_text = hashed_ngrams([clean_text(t) for t in texts], low, high, N_FEATURES)
    columns = np.frombuffer(indices, dtype=np.int32)
    rows = np.repeat(np.arange(len(texts)), np.frombuffer(per_text, dtype=np.int64))
    return sparse.csr_matrix((np.ones(len(columns)), (rows, columns)),
                             shape=(len(texts), N_FEATURES))


def assert_same(texts: list[str], low: int = 1, high: int = 3) -> None:
    difference = counted(texts, low, high) - reference(texts, low, high)
    assert difference.count_nonzero() == 0, [
        texts[row] for row in sorted(set(difference.nonzero()[0]))][:3]


def test_reviews_and_probe_texts_hash_as_scikit_learn_hashes_them() -> None:
    texts = [text for text, _ in fixture_reviews()] + probe_reviews(n=300, seed=11)
    assert_same(texts)
    assert_same(texts, 2, 2)


def test_apostrophes_markup_and_empty_texts() -> None:
    assert_same(["", "'", "''", "don't", "'quoted'", "rock'n'roll", "ab''cd'", "it's' fine",
                 "_under_ score_", "<br />x<BR>y", "a", "a b", "a b c d", "x" * 10_000,
                 "don't " * 2_000])


# Letters, digits and marks of many scripts, astral ones too; no lone surrogates, which
# a review decoded from UTF-8 cannot hold.
_TEXT = st.text(alphabet=st.one_of(
    st.sampled_from(list("ab_' \t\n.,-<>/0é²٣ⅷ一İß😀\u2019")),
    st.characters(exclude_categories=["Cs"])), max_size=120)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=8))
def test_any_text_hashes_as_scikit_learn_hashes_it(texts: list[str]) -> None:
    assert_same(texts)


def test_bad_arguments_are_refused() -> None:
    raw: list[object] = ["ok", b"raw"]
    with pytest.raises(TypeError, match=r"texts\[1\] is bytes"):
        hashed_ngrams(raw, 1, 1, N_FEATURES)  # type: ignore[arg-type]
    with pytest.raises(UnicodeEncodeError):
        hashed_ngrams(["lone \ud800 surrogate"], 1, 1, N_FEATURES)
    with pytest.raises(ValueError, match="low <= high"):
        hashed_ngrams(["x"], 2, 1, N_FEATURES)
