"""User-facing errors and the exit codes of docs/contracts.md."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID_DATA = 1
EXIT_USAGE = 2
EXIT_RUN_FAILED = 3


class SeqarenaError(Exception):
    """An error a user can act on: printed without a traceback, mapped to an exit code."""

    exit_code = EXIT_RUN_FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(SeqarenaError):
    """Bad options, bad params.yaml, unreadable or missing file."""

    exit_code = EXIT_USAGE


class DataValidationError(SeqarenaError):
    """The data failed validation; the validation report says why."""

    exit_code = EXIT_INVALID_DATA


class RunFailedError(SeqarenaError):
    """The run failed after validation (for example every model failed to train)."""

    exit_code = EXIT_RUN_FAILED
