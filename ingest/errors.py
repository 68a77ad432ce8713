"""The error every decoding step raises for bad input: one reason, meant for the dead-letter store."""

from __future__ import annotations


class PayloadError(ValueError):
    """Raised when a message (its topic or its payload) cannot become readings.

    ``reason`` is one line for a person reading the dead-letter store; it names the bad key or value.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages about untrusted input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
