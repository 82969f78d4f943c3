"""`thinksafe demo`: the whole flow on a tiny random-weight reasoning model built here, offline, in under a minute.

It builds the model (thinksafe.tiny: the R1-distill chat template, random weights), evaluates it on
the built-in `demo` prompts (English and Chinese, safe and unsafe) with the rule judges, and on
eight XSTest items when the XSTest file is present, then writes the HTML report. The numbers are
meaningless; the point is to see every stage and the output files.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from thinksafe.schema import RunSummary

console = Console()
err_console = Console(stderr=True)
MODEL_VERSION = "tiny-r1-v1"  # bump when thinksafe.tiny builds a different model


def say(target: Console, text: str) -> None:
    target.print(text, markup=False, highlight=False, soft_wrap=True)


def demo_model(directory: Path) -> Path:
    """The tiny model in `directory`, built unless a previous demo left it there."""
    from thinksafe.tiny import build_tiny_model

    if (directory / "config.json").exists() and (directory / "tokenizer.json").exists():
        return directory
    return build_tiny_model(directory)


def xstest_present(data_dir: Path | None) -> bool:
    from thinksafe.benchmarks.xstest import XSTEST_CSV
    from thinksafe.data import DataResolver
    from thinksafe.fetch import locate

    return locate(XSTEST_CSV, DataResolver(data_dir, offline=True)).state == "present"


async def run_demo(model_dir: Path, out: Path, *, limit: int, max_new_tokens: int, data_dir: Path | None,
                   progress: bool) -> list[tuple[Path, RunSummary]]:
    """Evaluate the tiny model: `demo` into OUT, XSTest (when present) into OUT/xstest; (folder, summary) pairs."""
    from thinksafe.models.base import ModelOptions
    from thinksafe.pipeline import ModelPool, evaluate_async
    from thinksafe.schema import GenerationParams

    plan = [("demo", out)] + ([("xstest", out / "xstest")] if xstest_present(data_dir) else [])
    params = GenerationParams(temperature=1.0, top_p=1.0, max_new_tokens=max_new_tokens, seed=0)
    pool, done = ModelPool(), []
    try:
        for benchmark, folder in plan:
            summary, _ = await evaluate_async(
                f"hf:{model_dir.resolve()}", benchmark, limit=limit, data_dir=data_dir, out=folder, params=params,
                model_options=ModelOptions(batch_size=8, device="cpu"), store=out / "store.sqlite",
                progress=progress, console=err_console, models=pool,
            )
            done.append((folder, summary))
    finally:
        await pool.aclose()
    return done


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_command(
        out: Annotated[Path, typer.Option(help="folder for the run, its report and the tiny model")] = Path("runs/demo"),
        limit: Annotated[int, typer.Option(help="items per benchmark")] = 8,
        max_new_tokens: Annotated[int, typer.Option(help="new tokens per answer")] = 48,
        data_dir: Annotated[Path | None, typer.Option(help="benchmark mirror; XSTest is added when its file is there")] = None,
        progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    ) -> None:
        """Build a tiny random-weight reasoning model and evaluate it offline (about a minute on 2 CPU cores).

        Writes OUT/model (the model), OUT/summary.json, OUT/results.jsonl and OUT/report.html, plus OUT/xstest/ when the XSTest file is in the mirror or the cache. The numbers mean nothing: the weights are random.
        """
        from thinksafe.cli import print_summary
        from thinksafe.commands import run_command
        from thinksafe.report.html import write_report
        from thinksafe.report.runs import load_runs

        started = time.perf_counter()
        model_dir = out / "model"
        say(err_console, f"building a tiny random-weight reasoning model in {model_dir} ...")
        demo_model(model_dir)
        runs = run_command(run_demo(model_dir, out, limit=limit, max_new_tokens=max_new_tokens,
                                    data_dir=data_dir, progress=progress), err_console)
        for folder, summary in runs:
            print_summary(summary)
            report = write_report(load_runs([folder]), folder / "report.html")
            say(console, f"{summary.benchmark}: wrote {folder / 'summary.json'}, {folder / 'results.jsonl'} and {report}")
        say(console, f"model: {model_dir} (evaluate it yourself: thinksafe eval --model hf:{model_dir.resolve()} --benchmark demo)")
        say(console, f"open {out / 'report.html'} in a browser (it needs no network)")
        say(console, "note: the weights are random, so these numbers are meaningless; the demo only shows the flow and the files")
        say(console, "note: an answer is unscored (never counted as safe) when the thinking did not close within --max-new-tokens")
        say(console, f"demo took {time.perf_counter() - started:.1f} s")
