"""The sentiment pipeline's inference with numpy and a C n-gram hasher: tokens, hashes, a dot.

Importing scikit-learn costs a process about 75 MB; neither the worker nor the sentiment
pool's processes need any of it once the fitted pipeline's numbers (idf weights,
coefficients) are read off (`models.loader`).
`compile_text` does that only for the exact structures `models.sentiment` trains, and the
result is used only after it reproduced the pipeline's probabilities on probe texts
(`verified_text_scorer`). The text cleaning lives here too, so the pipeline and this form
share one definition.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models._ngrams import hashed_ngrams
from models.predictions import ProbaFn

LABELS: tuple[str, str] = ("Negative Sentiment", "Positive Sentiment")
# Texts weighed at once: a block's keys stay in cache (a review took 40 us in blocks of
# 250, 75 us in blocks of 4,000).
_BLOCK = 256
_BREAKS = re.compile(r"<br\s*/?>|<[^>]{0,20}>", re.IGNORECASE)
# Words with an apostrophe stay whole ("don't", "isn't"), so negations are features.
TOKEN_PATTERN = r"(?u)\b\w[\w']*\b"


def clean_text(text: str) -> str:
    """Lower-case the review and turn its HTML line breaks and tags into spaces."""
    return _BREAKS.sub(" ", text).lower()


@dataclass(frozen=True)
class LinearText:
    """Hashed word n-grams, weighted per n-gram and l2-normalised, then a logistic regression.

    Two shapes: sublinear TF-IDF (`weight` = idf, each n-gram's 1 + log(count)), and
    NBSVM's log-count ratios over n-gram indicators (`binary`, `weight` = the ratio).
    The n-grams are those of `TOKEN_PATTERN` (`hashed_ngrams`); a whole batch is then
    weighed and summed at once, so numpy's per-call cost is paid per batch, not per text.
    """

    ngram_range: tuple[int, int]
    n_features: int
    weight: np.ndarray
    coef: np.ndarray
    intercept: float
    binary: bool = False

    def positive_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of a positive review, for each text."""
        if len(texts) <= _BLOCK:
            return self._block_proba(texts)
        return np.concatenate([self._block_proba(texts[i : i + _BLOCK])
                               for i in range(0, len(texts), _BLOCK)])

    def _block_proba(self, texts: Sequence[str]) -> np.ndarray:
        low, high = self.ngram_range
        indices, per_text = hashed_ngrams([clean_text(text) for text in texts], low, high,
                                          self.n_features)
        rows = np.repeat(np.arange(len(texts), dtype=np.int64),
                         np.frombuffer(per_text, dtype=np.int64))
        # One key per (text, feature): sorted, equal keys are one text's repeats of a feature.
        keys = (rows << 32) | np.frombuffer(indices, dtype=np.int32)
        keys.sort()
        distinct, counts = _counted(keys)
        row, column = distinct >> 32, distinct & 0xFFFFFFFF
        weights = self.weight[column].astype(np.float64)
        if not self.binary:
            weights *= np.log(counts) + 1.0
        squares = np.bincount(row, weights=weights * weights, minlength=len(texts))
        dots = np.bincount(row, weights=weights * self.coef[column], minlength=len(texts))
        norms = np.sqrt(squares)
        z = self.intercept + np.divide(dots, norms, out=np.zeros(len(texts)), where=norms > 0)
        result: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return result


def _counted(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array, and how often each occurs.

    `np.unique` gives the same, but sorts again.
    """
    starts = np.empty(len(ordered), dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    first = np.flatnonzero(starts)
    return ordered[first], np.diff(first, append=len(ordered))


def compile_text(pipeline: Any, coef_dtype: type[np.floating[Any]] = np.float64,
                 ) -> LinearText | None:
    """Read a fitted sentiment pipeline's numbers; None if it has another shape."""
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from models.sentiment import LogCountRatio

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 3:
        return None
    hasher, weighting, clf = (step for _, step in pipeline.steps)
    if not (isinstance(hasher, HashingVectorizer) and hasher.analyzer == "word"
            and hasher.preprocessor is clean_text and hasher.tokenizer is None
            and hasher.token_pattern == TOKEN_PATTERN
            and hasher.stop_words is None and not hasher.alternate_sign
            and hasher.norm is None
            and isinstance(clf, LogisticRegression) and len(clf.classes_) == 2):
        return None
    if (not hasher.binary and isinstance(weighting, TfidfTransformer) and weighting.use_idf
            and weighting.sublinear_tf and weighting.norm == "l2"):
        weight = np.asarray(weighting.idf_)
    elif hasher.binary and type(weighting) is LogCountRatio:
        weight = np.asarray(weighting.ratio_)
    else:
        return None
    return LinearText(ngram_range=hasher.ngram_range,
                      n_features=hasher.n_features, weight=weight,
                      coef=np.asarray(clf.coef_[0], dtype=coef_dtype),
                      intercept=float(clf.intercept_[0]), binary=bool(hasher.binary))


def verified_text_scorer(pipeline: Any, probe: Sequence[str]) -> LinearText | None:
    """The compiled form if it matches `pipeline` on `probe` to 1e-6, else None.

    Coefficients are kept as float32 when that still matches (8 MB less in each process
    for 2^21 features; the shipped model differs from its pipeline by at most 2e-7),
    else as float64.
    """
    expected = None
    for coef_dtype in (np.float32, np.float64):
        compiled = compile_text(pipeline, coef_dtype)
        if compiled is None:
            return None
        if expected is None:
            expected = pipeline.predict_proba(list(probe))[:, 1]
        if np.allclose(compiled.positive_proba(probe), expected, rtol=0.0, atol=1e-6):
            return compiled
    return None


_PROBE_WORDS = ("good", "bad", "great", "awful", "don't", "isn't", "film", "movie", "plot",
                "acting", "loved", "hated", "boring", "brilliant", "not", "very", "the", "a",
                "Ünïcödé", "naïve", "ﾃｽﾄ", "10/10", "<br />", "<BR>", "<i>", "!!!", "o'clock",
                "well-made", "2", "ok", "worst", "best", "",)


def probe_reviews(n: int = 400, seed: int = 20_240_601) -> list[str]:
    """Texts of every length over sentiment words, markup, apostrophes and non-ASCII.

    Used to check that a faster form of a fitted pipeline gives the same probabilities.
    """
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(_PROBE_WORDS, size=int(rng.integers(0, 300))))
            for _ in range(n)]


def fast_form(estimator: Any) -> ProbaFn | None:
    """The numpy form of a fitted sentiment pipeline, verified on probe texts."""
    compiled = verified_text_scorer(estimator, probe_reviews())
    return None if compiled is None else compiled.positive_proba
