"""`thinksafe export`: a run folder in another tool's format (for now an Inspect AI eval log)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

console = Console()


class ExportFormat(str, Enum):
    inspect = "inspect"


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        run_dir: Annotated[Path, typer.Argument(help="run directory (an eval's or a suite's OUT)")],
        fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="output format")] = ExportFormat.inspect,
        out: Annotated[Path | None, typer.Option(
            "--out", "-o",
            help="file to write for a single run (an existing folder: the log goes inside); for a suite, the folder "
                 "that gets one log per member. Default: RUN_DIR/inspect/")] = None,
    ) -> None:
        """Export a run as an Inspect AI eval log (JSON format), readable by `inspect view` and read_eval_log.

        One sample per generation (epoch = sample_index + 1); the assistant message carries the thinking as a reasoning content and the answer as text; one score per judge and channel ("<judge>/<channel>", value = label or "unscored"); the headline metrics become the log's results.

        A suite RUN_DIR gives one log per member, so --out is then a folder. `inspect view --log-dir FOLDER` lists only files named like Inspect's own (<created>_<task>_<id>.json), which is the default name.
        """
        from thinksafe.commands import fail
        from thinksafe.report.inspect_log import export_run

        try:
            paths = export_run(run_dir, out)
        except (ValueError, OSError) as error:
            fail(error)
        for path in paths:
            console.print(Text(f"wrote {path}"), soft_wrap=True)
