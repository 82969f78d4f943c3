"""`thinksafe attacks [NAME]`: the technique library, with each technique's source and options."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("attacks")
    def attacks_command(
        name: Annotated[Optional[str], typer.Argument(help="show one attack: description, source, options, model roles")] = None,
    ) -> None:
        """List attack techniques (`--attack NAME[:key=value,...]` on eval), or describe one."""
        from thinksafe.attacks.base import SolverAttack, attack_names
        from thinksafe.commands import fail, user_errors

        try:
            attacks = attack_names()
        except user_errors() as error:
            fail(error)
        if name is None:
            table = Table("name", "kind", "description")
            for attack_name, cls in attacks.items():
                table.add_row(Text(attack_name), Text(cls.kind), Text(cls.description))
            console.print(table)
            return
        if name not in attacks:
            fail(f"unknown attack {name!r}; known: {', '.join(attacks)}")
        cls = attacks[name]
        _say(f"{name} ({cls.kind}): {cls.description}")
        _say(f"source: {cls.source or 'written for thinksafe'}")
        if cls.measures != "asr":
            _say(f"reported as: {cls.measures} (not attack success rate)")
        roles = getattr(cls, "roles", ()) if issubclass(cls, SolverAttack) else ()
        if roles:
            _say("model roles: " + ", ".join(f"{role} (--{role}-model)" for role in roles))
        _say("options (--attack NAME:key=value,...):" if cls.options else "options: none")
        for option in cls.options:
            _say(f"  {option.name} ({option.type}, default {option.default}): {option.help}")
