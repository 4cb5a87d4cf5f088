"""User-facing errors: the CLI prints them as one line and exits non-zero, no traceback."""

from __future__ import annotations


class AcotdError(Exception):
    """Something the user can fix: bad input, bad config, a missing key, a dead server."""


class ConfigError(AcotdError):
    pass


class ImportFailure(AcotdError):
    pass


class BackendError(AcotdError):
    pass


class BudgetExceeded(AcotdError):
    pass


class JobCancelled(Exception):
    """Raised inside a job when cancellation was requested; the runner records it."""
