"""`thinksafe report` (one self-contained HTML file) and `thinksafe compare` (paper-style table)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)

if TYPE_CHECKING:
    from thinksafe.report.compare import Cell, Column
    from thinksafe.report.runs import Run


def _load(run_dirs: list[Path], labels: Optional[list[Optional[str]]]) -> list[Run]:
    from thinksafe.report.runs import load_runs

    try:
        return load_runs(run_dirs, labels)
    except (ValueError, OSError) as error:
        err_console.print(Text(f"error: {error}"))
        raise typer.Exit(2) from error


def print_comparison(columns: list[Column], table: list[list[Cell]], labels: list[str], baseline: str | None) -> None:
    """The comparison as a rich table; names are plain text, never markup."""
    from thinksafe.report.compare import NO_INTERVAL, cell_text, column_title

    grid = Table(title=Text("thinksafe compare" + (f" (baseline: {baseline})" if baseline else "")))
    grid.add_column("model")
    for column in columns:
        grid.add_column(Text(column_title(column)), overflow="fold")
    for label, cells in zip(labels, table):
        name = Text(label + (" (baseline)" if label == baseline else ""))
        grid.add_row(name, *(Text(cell_text(cell, sep="\n")) for cell in cells))
    # a terminal wraps to its width; a pipe or file gets the whole table on one line per model
    out = console if console.is_terminal else Console(width=60 + 40 * max(1, len(columns)))
    out.print(grid)
    out.print(Text("values: estimate [95% bootstrap CI]; Δ: difference to the baseline "
                   "[paired bootstrap 95% CI over matching (id, sample_index) items]"))
    if any(c.diff is not None and c.diff_low is None for cells in table for c in cells):
        out.print(Text(f"†: {NO_INTERVAL}"))


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_command(
        run_dirs: Annotated[list[Path], typer.Argument(help="run directories (an eval's or a suite's OUT)")],
        out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write")] = Path("report.html"),
        label: Annotated[Optional[list[str]], typer.Option(help="name for each RUN_DIR, in order; repeatable")] = None,
        title: Annotated[Optional[str], typer.Option(help="page title")] = None,
    ) -> None:
        """One self-contained HTML report: headline, per-category and thinking x answer tables, plots, failure browser."""
        from thinksafe.report.html import count_items, write_report

        runs = _load(run_dirs, label)
        path = write_report(runs, out, title)
        n = count_items(runs)
        console.print(Text(f"wrote {path} ({n} generations, {path.stat().st_size // 1024} KiB)"))

    @app.command("compare")
    def compare_command(
        run_dirs: Annotated[list[Path], typer.Argument(help="run directories, one per model")],
        baseline: Annotated[Optional[Path], typer.Option(help="run directory the others are compared with")] = None,
        label: Annotated[Optional[list[str]], typer.Option(help="name for each RUN_DIR, in order; repeatable")] = None,
        csv: Annotated[Optional[Path], typer.Option("--csv", help="write the table as CSV (one row per model x column)")] = None,
        markdown: Annotated[Optional[Path], typer.Option("--markdown", help="write the table as Markdown")] = None,
        parquet: Annotated[Optional[Path], typer.Option("--parquet", help="write the table as Parquet")] = None,
        html: Annotated[Optional[Path], typer.Option("--html", help="write the table as a self-contained HTML file")] = None,
    ) -> None:
        """Paper-style table: rows = models, columns = each benchmark's headline metrics per channel."""
        from thinksafe.report import compare as cmp

        paths = list(run_dirs)
        names: list[Optional[str]] = list(label or [])
        base_index: int | None = None
        if baseline is not None:
            resolved = [p.resolve() for p in paths]
            if baseline.resolve() in resolved:
                base_index = resolved.index(baseline.resolve())
            else:  # listed first, named by its summary's model; --label names the RUN_DIRs
                paths.insert(0, baseline)
                names.insert(0, None)
                base_index = 0
        runs = _load(paths, names)
        base = runs[base_index] if base_index is not None else None
        columns, table = cmp.compare(runs, base)
        labels = [run.label for run in runs]
        base_label = base.label if base else None
        print_comparison(columns, table, labels, base_label)
        if csv:
            cmp.write_csv(csv, table)
        if markdown:
            markdown.write_text(cmp.markdown(columns, table, labels, base_label), encoding="utf-8")
        if parquet:
            cmp.write_parquet(parquet, table)
        if html:
            from thinksafe.report.html import render_compare

            html.write_text(render_compare(columns, table, labels, base_label), encoding="utf-8")
        for path in (csv, markdown, parquet, html):
            if path:
                console.print(Text(f"wrote {path}"))
