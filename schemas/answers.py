"""The answer record: the demo's label as its value, its provenance in headers.

The value stays the demo's string byte for byte; the headers say which model gave it
(`model.name`, `model.version`), how sure it was (`score`, the probability of the label
given) and which input it answers (`source.partition`, `source.offset`).
"""

from __future__ import annotations

Header = tuple[str, bytes]


def model_headers(name: str, version: str) -> tuple[Header, Header]:
    return ("model.name", name.encode()), ("model.version", version.encode())


def answer_headers(model: tuple[Header, Header], score: float, partition: int,
                   offset: int) -> list[Header]:
    """The headers of one answer (built for every answer, so kept to byte formatting)."""
    return [model[0], model[1], ("score", b"%.4f" % score),
            ("source.partition", b"%d" % partition), ("source.offset", b"%d" % offset)]

