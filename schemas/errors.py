"""The one error a decoder raises for bad input."""


class InvalidEvent(ValueError):
    """An input message that cannot be scored; `reason` goes on the dead-letter record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
