"""Errors the CLI turns into one clear message and an exit code (2: bad input, 1: failure)."""

from __future__ import annotations

__all__ = ["BenchError", "InputError", "RunError"]


class BenchError(Exception):
    """Base class: a problem the user can act on. The message names the problem and the fix."""

    exit_code = 1


class InputError(BenchError):
    """Bad usage or bad input: unknown names, impossible parameters, missing or corrupt files."""

    exit_code = 2


class RunError(BenchError):
    """A failure while running."""

    exit_code = 1
