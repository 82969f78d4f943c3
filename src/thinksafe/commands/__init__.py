"""Extra CLI command groups: a module here defines `register(app: typer.Typer)`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from thinksafe.plugins import plugin_modules

T = TypeVar("T")


def run_command(work: Coroutine[Any, Any, T], err_console: Console) -> T:
    """Run a command's coroutine; a model that will not load or bad input exits 2 with its message."""
    from thinksafe.models.base import ModelLoadError

    try:
        return asyncio.run(work)
    except ModelLoadError as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    except (ValueError, RuntimeError) as error:
        err_console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error


def register_all(app: typer.Typer) -> None:
    for module in plugin_modules(__name__):
        register = getattr(module, "register", None)
        if register is not None:
            register(app)
