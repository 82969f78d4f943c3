"""The `thinksafe` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from thinksafe.schema import GenerationParams, RunSummary, SuiteSummary

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Safety evaluation for reasoning models.")
console = Console()
err_console = Console(stderr=True)

CPU_BUDGET_LIMIT = 40
CPU_BUDGET_SUITE_LIMIT = 16  # per member benchmark
CPU_BUDGET_TOKENS = 768


def _gpu_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@app.command("eval")
def eval_command(
    model: Annotated[str, typer.Option(help="hf:<id or path>[+<adapter>], openai:<model>[@<base-url>], vllm:<id>")],
    benchmark: Annotated[str, typer.Option(help="a name from `thinksafe benchmarks`")],
    judge: Annotated[Optional[list[str]], typer.Option(help="judge NAME or NAME=MODEL_SPEC; repeatable")] = None,
    judge_model: Annotated[Optional[str], typer.Option(help="model spec for LLM judges")] = None,
    limit: Annotated[Optional[int], typer.Option(help="a seeded sample of N items spread evenly across categories")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="local mirror laid out as <benchmark>/<file>")] = None,
    out: Annotated[Optional[Path], typer.Option(help="where summary.json and results.jsonl go")] = None,
    store: Annotated[Optional[Path], typer.Option(help="SQLite store (default $THINKSAFE_STORE or ~/.cache/thinksafe/store.sqlite)")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="server URL for openai: models")] = None,
    api_key_env: Annotated[str, typer.Option(help="environment variable holding the API key")] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option(help="requests in flight for server backends")] = 32,
    max_retries: Annotated[int, typer.Option(help="retries (exponential backoff) before a request is recorded as failed")] = 6,
    batch_size: Annotated[int, typer.Option(help="prompts per batch for the hf backend")] = 16,
    max_new_tokens: Annotated[Optional[int], typer.Option(help="default 8192")] = None,
    temperature: Annotated[float, typer.Option(help="0 means greedy")] = 0.6,
    top_p: Annotated[float, typer.Option()] = 0.95,
    seed: Annotated[int, typer.Option()] = 0,
    samples: Annotated[int, typer.Option(help="generations per prompt")] = 1,
    attack: Annotated[Optional[list[str]], typer.Option(help="attack technique; repeatable")] = None,
    answer_key: Annotated[Optional[Path], typer.Option(help="MCQ answer key (JSON id->letter, or CSV id,answer)")] = None,
    victim_model: Annotated[Optional[str], typer.Option(help="model spec simulating the victim (cse-phishing)")] = None,
    expansion_model: Annotated[Optional[str], typer.Option(help="model spec for the expansion step (cse-mitre)")] = None,
    option: Annotated[Optional[list[str]], typer.Option(help="benchmark option KEY=VALUE; repeatable")] = None,
    cpu_budget: Annotated[bool, typer.Option(help=f"without a GPU and without --limit, evaluate {CPU_BUDGET_LIMIT} items ({CPU_BUDGET_SUITE_LIMIT} per suite member) with {CPU_BUDGET_TOKENS} new tokens")] = False,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Evaluate a model on a benchmark: generate, split thinking from answer, judge both."""
    from thinksafe.benchmarks.base import suite_names
    from thinksafe.commands import run_command
    from thinksafe.models.base import ModelOptions
    from thinksafe.pipeline import evaluate_async, evaluate_suite_async

    if cpu_budget and model.startswith("hf:") and not _gpu_available():
        if limit is None:
            limit = CPU_BUDGET_SUITE_LIMIT if benchmark in suite_names() else CPU_BUDGET_LIMIT
        if max_new_tokens is None:
            max_new_tokens = CPU_BUDGET_TOKENS
        err_console.print(
            f"[yellow]No GPU: evaluating a stratified sample of {limit} items (per benchmark) with max_new_tokens={max_new_tokens} "
            "(2 CPU cores need hours for the full set; run on a GPU or pass --limit/--max-new-tokens).[/yellow]"
        )
    params = GenerationParams(
        temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens or 8192, seed=seed, n=samples
    )
    options = ModelOptions(
        base_url=base_url, api_key_env=api_key_env, concurrency=concurrency, batch_size=batch_size, max_retries=max_retries
    )
    out = out or Path("runs") / f"{benchmark}"
    benchmark_options = dict(o.split("=", 1) for o in (option or []) if "=" in o)
    for key, value in (("answer_key", answer_key), ("victim_model", victim_model), ("expansion_model", expansion_model)):
        if value is not None:
            benchmark_options[key] = str(value)
    common = dict(
        benchmark_options=benchmark_options,
        judges=judge, judge_model=judge_model, limit=limit, data_dir=data_dir, out=out, params=params,
        model_options=options, store=store, attacks=attack, seed=seed, progress=progress, console=err_console,
    )
    if benchmark in suite_names():
        print_suite(run_command(evaluate_suite_async(model, benchmark, **common), err_console))
        console.print(f"wrote {out / 'summary.json'} and one folder per benchmark")
        return
    summary, _ = run_command(evaluate_async(model, benchmark, **common), err_console)
    print_summary(summary)
    console.print(f"wrote {out / 'summary.json'} and {out / 'results.jsonl'}")


def _fmt(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def print_summary(summary: RunSummary) -> None:
    table = Table(title=f"{summary.benchmark} - {summary.model}")
    for column in ("judge", "metric", "better", "answer", "thinking", "n (ans/think)", "unscored (ans/think)"):
        table.add_column(column)
    from thinksafe.pipeline import suite_rows

    for row in suite_rows(summary, None):
        pair = (row.answer, row.reasoning)
        cells = [_fmt(m.value, m.ci_low, m.ci_high) if m else "absent" for m in pair]
        counts = "/".join(str(m.n) if m else "-" for m in pair)
        unscored = "/".join(str(m.unscored) if m else "-" for m in pair)
        table.add_row(row.judge, row.metric, "higher" if row.higher_is_better else "lower", *cells, counts, unscored)
    console.print(table)
    console.print(
        f"items {summary.n_samples}, generations {summary.n}, errors {summary.errors}, "
        f"truncated thinking {summary.truncated}, thinking present {summary.reasoning_present}"
    )
    for note in summary.notes:
        console.print(f"note: {note}")


def print_suite(suite: SuiteSummary) -> None:
    table = Table(title=f"{suite.suite} - {suite.model}")
    for column in ("benchmark", "judge", "headline metric", "better", "answer", "thinking"):
        table.add_column(column)
    for row in suite.rows:
        cells = [_fmt(m.value, m.ci_low, m.ci_high) if m else "absent" for m in (row.answer, row.reasoning)]
        table.add_row(row.benchmark, row.judge, row.metric, "higher" if row.higher_is_better else "lower", *cells)
    console.print(table)


@app.command("benchmarks")
def benchmarks_command() -> None:
    """List registered benchmarks."""
    from thinksafe.benchmarks import benchmark_names

    from thinksafe.benchmarks.base import suite_names

    table = Table("name", "default judges", "description")
    for name, factory in benchmark_names().items():
        table.add_row(name, ", ".join(factory.default_judges), factory.description)
    for name, suite in suite_names().items():
        table.add_row(name, ", ".join(suite.default_judges) or "each member's", f"suite: {', '.join(suite.members)}")
    console.print(table)


@app.command("judges")
def judges_command() -> None:
    """List registered judges."""
    from thinksafe.judges import judge_names

    table = Table("name", "labels", "needs --judge-model", "description")
    for name, cls in judge_names().items():
        table.add_row(name, ", ".join(cls.labels), "yes" if cls.needs_model else "no", cls.description)
    console.print(table)


def _register_command_groups() -> None:
    from thinksafe.commands import register_all

    register_all(app)


_register_command_groups()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
