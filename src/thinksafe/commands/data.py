"""`thinksafe data fetch` and `thinksafe data status`: benchmark files, downloaded and verified ahead of a run.

The download and verification logic lives in thinksafe.fetch; this module parses options and prints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from thinksafe.fetch import MIRROR_URL_ENV

console = Console()
err_console = Console(stderr=True)
OFFLINE_ENVS = ("THINKSAFE_OFFLINE", "HF_HUB_OFFLINE")


def say(target: Console, text: str) -> None:
    """One plain line: never wrapped, never read as markup (paths and URLs stay whole)."""
    target.print(text, markup=False, highlight=False, soft_wrap=True)


def _benchmarks(names: list[str] | None) -> list[object]:
    from thinksafe.commands import fail, user_errors
    from thinksafe.fetch import benchmarks_named

    try:
        return benchmarks_named(names or [])
    except user_errors() as error:
        fail(error)


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(no_args_is_help=True, help="Benchmark data files: fetch them ahead of a run, or see which are present.")
    app.add_typer(data_app, name="data")

    @data_app.command("fetch")
    def fetch_command(
        benchmark: Annotated[Optional[list[str]], typer.Option(help="benchmark or suite NAME; repeatable (default: every benchmark)")] = None,
        to: Annotated[Optional[Path], typer.Option(help="folder to fill, laid out as <benchmark>/<file> (usable as --data-dir); default: the user cache ($THINKSAFE_CACHE or ~/.cache/thinksafe)")] = None,
        mirror_url: Annotated[Optional[str], typer.Option(envvar=MIRROR_URL_ENV, help="download from a web mirror laid out as <benchmark>/<file> instead of the pinned upstream URLs (sha256 still checked)")] = None,
        timeout: Annotated[float, typer.Option(help="seconds a request may wait for the server")] = 30.0,
        progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    ) -> None:
        """Download every file the benchmarks need from its pinned URL and check its sha256.

        Files already present with the right sha256 are skipped (without --to: in the mirror at $THINKSAFE_DATA_DIR or in the cache). A download whose sha256 differs from the pin is deleted and named. Exit 1 when any file could not be got (the others are still fetched).

        This command downloads even when THINKSAFE_OFFLINE or HF_HUB_OFFLINE is set.
        """
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        from thinksafe.commands import print_error
        from thinksafe.data import DataResolver, cache_dir
        from thinksafe.fetch import fetch_need, fetch_needs

        benches = _benchmarks(benchmark)
        offline = [name for name in OFFLINE_ENVS if os.environ.get(name) == "1"]
        if offline:
            say(err_console, f"note: {' and '.join(n + '=1' for n in offline)} set; `data fetch` downloads anyway (it is the one command that does)")
        target = to or cache_dir()
        skip_in = None if to is not None else DataResolver(None, offline=True)
        needs = list({tuple((c.benchmark, c.name) for c in n.choices): n for b in benches for n in fetch_needs(b)}.values())
        results = []
        bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                       console=err_console, disable=not progress, transient=True)
        with bar:
            overall = bar.add_task(f"{len(needs)} files", total=len(needs))
            for need in needs:
                first = need.choices[0]
                task = bar.add_task(f"{first.benchmark}/{first.name}", total=None)

                def moved(done: int, total: int | None, task: int = task) -> None:
                    bar.update(task, completed=done, total=total)

                results.append(fetch_need(need, target, mirror_url=mirror_url, skip_in=skip_in, progress=moved, timeout=timeout))
                bar.remove_task(task)
                bar.advance(overall)
        counts = {"fetched": 0, "present": 0, "failed": 0, "manual": 0}
        for result in results:
            counts[result.outcome] += 1
            label = f"{result.file.benchmark}/{result.file.name}"
            if result.outcome == "fetched":
                say(console, f"fetched  {label}  {result.path}")
            elif result.outcome == "present":
                say(console, f"present  {label}  {result.path}")
        problems = [r for r in results if r.outcome in ("failed", "manual")]
        for result in problems:
            print_error(f"{result.file.benchmark}/{result.file.name}: {result.detail}")
        say(console, f"{counts['fetched']} fetched, {counts['present']} already present, {len(problems)} failed; folder {target}")
        if problems:
            raise typer.Exit(1)

    @data_app.command("status")
    def status_command(
        benchmark: Annotated[Optional[list[str]], typer.Option(help="benchmark or suite NAME; repeatable (default: every benchmark)")] = None,
        data_dir: Annotated[Optional[Path], typer.Option(help="local mirror laid out as <benchmark>/<file> (default $THINKSAFE_DATA_DIR)")] = None,
    ) -> None:
        """One line per declared file: present, missing or bad-sha256, the path where it is (or is expected: the mirror when one is given, else the cache), and its URL.

        Exit 1 when a file a benchmark needs is missing or has the wrong sha256.
        """
        from thinksafe.data import DataResolver
        from thinksafe.fetch import declared_files, locate, needs_of

        benches = _benchmarks(benchmark)
        resolver = DataResolver(data_dir, offline=True)
        lacking, shown = False, set()
        for bench in benches:
            needs = needs_of(bench)
            for file in declared_files([bench]):
                if (file.benchmark, file.name) in shown:  # a file two benchmarks read (xstest, xstest-3way)
                    continue
                shown.add((file.benchmark, file.name))
                found = locate(file, resolver)
                need = next((n for n in needs if file in n.choices), None)
                note = ""
                if need is None:
                    note = "  (read only with some --option values)"
                elif len(need.choices) > 1:
                    others = [c for c in need.choices if c != file]
                    if found.state != "present" and any(locate(c, resolver).state == "present" for c in others):
                        note = f"  (not needed: {', '.join(o.benchmark + '/' + o.name for o in others)} is present)"
                    else:
                        note = f"  (or {', '.join(o.benchmark + '/' + o.name for o in others)})"
                satisfied = need is None or any(locate(c, resolver).state == "present" for c in need.choices)
                lacking = lacking or not satisfied
                say(console, f"{found.state:<10}  {file.benchmark}/{file.name}  {found.path}  {file.url}{note}")
        if lacking:
            raise typer.Exit(1)
