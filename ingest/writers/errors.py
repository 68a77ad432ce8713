"""How a write can fail, sorted the way the drain loop must react: retry later, or stop loudly."""

from __future__ import annotations


class WriteError(Exception):
    """Raised when a batch could not be written; see the two subclasses."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class RetryableWriteError(WriteError):
    """Raised for 429, 5xx, timeouts and connection errors: write the same batch again later.

    ``retry_after`` is the server's Retry-After in seconds, when it sent one.
    """

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class FatalWriteError(WriteError):
    """Raised for 401/403 and configuration errors (e.g. a missing database): retrying cannot help.

    The drain loop stops writing and says so loudly; spooling goes on, so nothing is lost while an
    operator fixes credentials or configuration.
    """
