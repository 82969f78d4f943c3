"""Extra CLI command groups: a module here defines `register(app: typer.Typer)`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from thinksafe.errors import ThinksafeError
from thinksafe.plugins import plugin_modules

T = TypeVar("T")


def user_errors() -> tuple[type[BaseException], ...]:
    """What the CLI reports on one line and exit 2; anything else is a crash and keeps its traceback.

    ValueError stays here for now: much of the code base still raises it for bad input.
    """
    from thinksafe.data import DataError
    from thinksafe.models.base import ModelLoadError
    from thinksafe.plugins import PluginError

    return (ThinksafeError, ModelLoadError, DataError, PluginError, ValueError)


def print_error(message: object) -> None:
    """`error: <message>` on stderr, plain text, never wrapped (a URL or path stays on one line)."""
    text = str(message)
    sys.stderr.write(f"error: {text}\n" if not text.startswith("error:") else f"{text}\n")
    sys.stderr.flush()


def fail(message: object, code: int = 2) -> NoReturn:
    print_error(message)
    raise typer.Exit(code)


def run_command(work: Coroutine[Any, Any, T], err_console: Console | None = None) -> T:
    """Run a command's coroutine; bad input or a model that will not load exits 2 with its message."""
    try:
        return asyncio.run(work)
    except user_errors() as error:
        print_error(error)
        raise typer.Exit(2) from error


def register_all(app: typer.Typer) -> None:
    for module in plugin_modules(__name__):
        register = getattr(module, "register", None)
        if register is not None:
            register(app)
