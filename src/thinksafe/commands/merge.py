"""`thinksafe merge OUT_STORE STORE...`: join the stores of a sharded run (or of any disjoint runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

console = Console()


def register(app: typer.Typer) -> None:
    @app.command("merge")
    def merge_command(
        out_store: Annotated[Path, typer.Argument(help="the store to merge into (created when missing)")],
        stores: Annotated[list[Path], typer.Argument(help="stores to copy from (read-only)")],
    ) -> None:
        """Merge stores: generations and judgements copied by key, runs appended; all or nothing.

        Merging twice changes nothing. A key held by two stores with different values is refused (exit 2, naming the key and both stores, nothing written), except that a successful generation wins over an errored one, and a final judgement over a transient one.

        After merging the stores of `thinksafe eval --shard i/N` runs, `thinksafe eval` without --shard on OUT_STORE reuses everything: no new model calls.
        """
        from thinksafe.commands import fail
        from thinksafe.errors import ThinksafeError
        from thinksafe.store import Store

        target = out_store.resolve()
        sources = []
        for path in stores:
            if path.resolve() == target:
                fail(f"{path} is OUT_STORE itself: name it once, first")
            if not path.is_file():
                fail(f"no store at {path}")
            if path.resolve() not in (s.resolve() for s in sources):
                sources.append(path)
        try:
            with Store(out_store) as store:
                counts = store.merge(sources)
        except (ThinksafeError, ValueError, OSError) as error:  # a conflict, or a file that is not a store
            fail(error)
        parts = []
        for table in ("generations", "judgements"):
            c = counts[table]
            extra = "".join(f", {c[k]} {k}" for k in ("replaced", "kept") if c[k])
            parts.append(f"{table} +{c['added']} ({c['same']} already there{extra})")
        parts.append(f"runs +{counts['runs']['added']}")
        console.print(Text(f"merged {len(sources)} stores into {out_store}: " + "; ".join(parts)), soft_wrap=True)
