"""The project's error type: a problem the user can fix, reported by the CLI on one line (exit 2)."""

from __future__ import annotations


class ThinksafeError(Exception):
    """Bad input, a missing file, a model that will not load: the message says what to do.

    The command line prints `error: <message>` on stderr and exits 2; any other exception is a
    crash and keeps its traceback.
    """


class ArgumentError(ThinksafeError, ValueError):
    """A command-line argument (or its Python API counterpart) is invalid; found before any model call."""


class OptionError(ArgumentError):
    """A benchmark option is unknown to the benchmark or has the wrong type."""
