from collections.abc import Sequence

def hashed_ngrams(texts: Sequence[str], low: int, high: int, n_features: int,
                  ) -> tuple[bytes, bytes]: ...
