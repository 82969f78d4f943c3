"""The `thinksafe` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Column, Table

from thinksafe.commands import fail, print_error, user_errors
from thinksafe.commands.checks import DEFAULT_TIMEOUT_S, check_eval_args, eval_endpoints, parse_options
from thinksafe.errors import ArgumentError
from thinksafe.report import terminal
from thinksafe.schema import GenerationParams, RunSummary, SuiteSummary

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Safety evaluation for reasoning models.")
console = Console()
err_console = Console(stderr=True)

ERRORS_SHOWN = 5  # distinct errors printed after a run
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
    model: Annotated[str, typer.Option(help="hf:<id or path>[+<adapter>], openai:<model>[@<base-url>], vllm:<id or path>[#key=value,...]")],
    benchmark: Annotated[str, typer.Option(help="a name from `thinksafe benchmarks`")],
    judge: Annotated[Optional[list[str]], typer.Option(help="judge NAME or NAME=MODEL_SPEC; repeatable")] = None,
    judge_model: Annotated[Optional[str], typer.Option(help="model spec for LLM judges")] = None,
    limit: Annotated[Optional[int], typer.Option(help="a seeded sample of N items spread evenly across categories")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="local mirror laid out as <benchmark>/<file>")] = None,
    out: Annotated[Optional[Path], typer.Option(help="where summary.json and results.jsonl go")] = None,
    store: Annotated[Optional[Path], typer.Option(help="SQLite store (default $THINKSAFE_STORE or ~/.cache/thinksafe/store.sqlite)")] = None,
    base_url: Annotated[Optional[list[str]], typer.Option(help="server URL for openai: models; repeatable: requests are spread over the servers, which must serve the same model")] = None,
    base_urls_file: Annotated[Optional[Path], typer.Option(help="more server URLs for openai: models, one a line (# comments)")] = None,
    shard: Annotated[Optional[str], typer.Option(help="run only shard i/N of the samples (1 <= i <= N; after --limit); join the shards' stores with `thinksafe merge`")] = None,
    api_key_env: Annotated[str, typer.Option(help="environment variable holding the API key")] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option(help="requests in flight for server backends (per server)")] = 32,
    max_retries: Annotated[int, typer.Option(help="retries (exponential backoff) before a request is recorded as failed")] = 6,
    timeout: Annotated[float, typer.Option(help="seconds one request may take in total (server backends)")] = DEFAULT_TIMEOUT_S,
    batch_size: Annotated[int, typer.Option(help="prompts per batch for the hf backend")] = 16,
    max_new_tokens: Annotated[Optional[int], typer.Option(help="default 8192")] = None,
    temperature: Annotated[float, typer.Option(help="0 means greedy")] = 0.6,
    top_p: Annotated[float, typer.Option()] = 0.95,
    seed: Annotated[int, typer.Option()] = 0,
    samples: Annotated[int, typer.Option(help="generations per prompt")] = 1,
    attack: Annotated[Optional[list[str]], typer.Option(help="attack NAME[:key=value,...]; repeatable (`thinksafe attacks` lists them)")] = None,
    attacker_model: Annotated[Optional[str], typer.Option(help="model spec proposing attack prompts (pair, tap, crescendo)")] = None,
    translator_model: Annotated[Optional[str], typer.Option(help="model spec translating prompts and answers (attack translate)")] = None,
    victim_model: Annotated[Optional[str], typer.Option(help="model spec in the victim role (a simulated party, e.g. cse-phishing's)")] = None,
    expansion_model: Annotated[Optional[str], typer.Option(help="model spec in the expansion role (e.g. cse-mitre's expansion step)")] = None,
    option: Annotated[Optional[list[str]], typer.Option(help="benchmark option KEY=VALUE; repeatable (`thinksafe benchmarks NAME` lists them)")] = None,
    judge_api_key_env: Annotated[Optional[str], typer.Option(help="environment variable holding the judge model's API key")] = None,
    victim_api_key_env: Annotated[Optional[str], typer.Option(help="environment variable holding the victim model's API key")] = None,
    expansion_api_key_env: Annotated[Optional[str], typer.Option(help="environment variable holding the expansion model's API key")] = None,
    attacker_api_key_env: Annotated[Optional[str], typer.Option(help="environment variable holding the attacker model's API key")] = None,
    translator_api_key_env: Annotated[Optional[str], typer.Option(help="environment variable holding the translator model's API key")] = None,
    allow_errors: Annotated[bool, typer.Option("--allow-errors", help="exit 0 even when some requests failed after retries (they are still listed)")] = False,
    report: Annotated[bool, typer.Option(help="write OUT/report.html (the browsable report) beside summary.json")] = True,
    cpu_budget: Annotated[bool, typer.Option(help=f"without a GPU and without --limit, evaluate {CPU_BUDGET_LIMIT} items ({CPU_BUDGET_SUITE_LIMIT} per suite member) with {CPU_BUDGET_TOKENS} new tokens")] = False,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    engine: Annotated[str, typer.Option(help="local (this process) or ray (Ray Data over --replicas copies of the model; pip install 'thinksafe[ray]')")] = "local",
    replicas: Annotated[int, typer.Option(help="--engine ray: copies of the target model (Ray actors)")] = 1,
    ray_address: Annotated[Optional[str], typer.Option(help="--engine ray: the cluster to join (`auto`: the running one); default a local Ray on this machine's CPUs")] = None,
) -> None:
    """Evaluate a model on a benchmark: generate, split thinking from answer, judge both.

    Arguments are checked before any model call (exit 2 with one `error:` line). Exit status 1:
    the run finished but some requests failed after all retries; the distinct errors are listed
    on stderr (--allow-errors: exit 0, still listed). Exit status 2: bad arguments, missing
    data, or a model that will not load.
    """
    from thinksafe.benchmarks.base import suite_names
    from thinksafe.commands import run_command
    from thinksafe.models.base import ModelOptions
    from thinksafe.pipeline import evaluate_async, evaluate_suite_async

    role_models = {role: spec for role, spec in (("attacker", attacker_model), ("translator", translator_model)) if spec}
    try:
        benchmark_options = parse_options(option)
        for key, value in (("victim_model", victim_model), ("expansion_model", expansion_model)):  # model roles
            if value is not None:
                benchmark_options[key] = str(value)
        check_eval_args(
            model=model, benchmark=benchmark, judges=judge, judge_model=judge_model, limit=limit, base_url=base_url,
            base_urls_file=base_urls_file, shard=shard, concurrency=concurrency, max_retries=max_retries,
            batch_size=batch_size, max_new_tokens=max_new_tokens,
            temperature=temperature, top_p=top_p, samples=samples, timeout=timeout, attacks=attack,
            benchmark_options=benchmark_options, role_models=role_models,
        )
        if engine not in ("local", "ray") or replicas < 1:
            raise ArgumentError(f"--engine must be local or ray (got {engine!r}) and --replicas >= 1 (got {replicas})")
        if engine == "ray":
            from thinksafe.solvers.ray_batch import require_ray

            require_ray()  # one line naming the extra, before any data or model is touched
        from thinksafe.fetch import check_data_present

        check_data_present(benchmark, data_dir, benchmark_options)  # every missing file named at once, before a model loads
    except user_errors() as error:
        fail(error)
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
    urls = eval_endpoints(base_url, base_urls_file)
    options = ModelOptions(
        base_url=urls[0] if len(urls) == 1 else None, base_urls=urls if len(urls) > 1 else [],  # one: exactly as before
        api_key_env=api_key_env, concurrency=concurrency, batch_size=batch_size, max_retries=max_retries, timeout_s=timeout,
    )
    out = out or Path("runs") / f"{benchmark}"
    role_envs = {role: env for role, env in (("judge", judge_api_key_env), ("victim", victim_api_key_env),
                                               ("expansion", expansion_api_key_env), ("attacker", attacker_api_key_env),
                                               ("translator", translator_api_key_env)) if env}
    common = dict(
        benchmark_options=benchmark_options,
        judges=judge, judge_model=judge_model, limit=limit, data_dir=data_dir, out=out, params=params,
        model_options=options, store=store, attacks=attack, seed=seed, progress=progress, console=err_console,
        keep_texts=False,  # results stay lean (texts in the store): memory bounded on large runs
    )
    if role_envs:
        common["role_api_key_envs"] = role_envs
    if shard is not None:
        from thinksafe.sharding import parse_shard

        common["shard"] = parse_shard(shard)
    if role_models:
        common["role_models"] = role_models
    if engine != "local":
        common["engine"] = {"name": engine, "replicas": replicas, "address": ray_address}
    if benchmark in suite_names():
        suite = run_command(evaluate_suite_async(model, benchmark, **common), err_console)
        print_suite(suite)
        say(console, f"wrote {out / 'summary.json'} and one folder per benchmark")
        write_run_report(out, report)
        finish_run(suite.errors, suite.error_counts, allow_errors)
        return
    summary, _ = run_command(evaluate_async(model, benchmark, **common), err_console)
    print_summary(summary)
    say(console, f"wrote {out / 'summary.json'} and {out / 'results.jsonl'}")
    write_run_report(out, report)
    finish_run(summary.errors, summary.error_counts, allow_errors, total=summary.n)


def write_run_report(out: Path, enabled: bool) -> None:
    """OUT/report.html from what the run wrote (`thinksafe report OUT` makes the same file)."""
    if not enabled or not (out / "summary.json").exists():
        return
    from thinksafe.report.html import write_report
    from thinksafe.report.runs import load_runs

    path = write_report(load_runs([out]), out / "report.html")
    say(console, f"wrote {path} (open it in a browser; it needs no network)")


# ------------------------------------------------------------------------------ output


say = terminal.say


def _one_line(text: str, limit: int = 500) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def finish_run(errors: int, error_counts: dict[str, int], allow_errors: bool, total: int | None = None) -> None:
    """After a run: requests that failed after retries are listed on stderr, and the exit status is 1
    unless --allow-errors."""
    if not errors and not error_counts:
        return
    errors = errors or sum(error_counts.values())
    of = f" of {total}" if total else ""
    print_error(f"{errors}{of} generations failed after all retries (their items are unscored); "
                + ("first distinct errors:" if error_counts else "the causes are in results.jsonl"))
    for message, count in list(error_counts.items())[:ERRORS_SHOWN]:
        sys.stderr.write(f"  {count} x {_one_line(message)}\n")
    if len(error_counts) > ERRORS_SHOWN:
        sys.stderr.write(f"  ... and {len(error_counts) - ERRORS_SHOWN} more distinct errors (see results.jsonl)\n")
    sys.stderr.flush()
    if not allow_errors:
        raise typer.Exit(1)


def print_summary(summary: RunSummary) -> None:
    terminal.print_summary(console, summary)
    terminal.print_attack_section(console, summary)


def print_suite(suite: SuiteSummary) -> None:
    terminal.print_suite(console, suite)


_fmt = terminal._fmt
_row = terminal._row

@app.command("benchmarks")
def benchmarks_command(
    name: Annotated[Optional[str], typer.Argument(help="show one benchmark: description, judges, files and options")] = None,
) -> None:
    """List registered benchmarks, or describe one (its --option keys included)."""
    from thinksafe.benchmarks.base import benchmark_names, suite_names

    try:
        benchmarks, suites = benchmark_names(), suite_names()
    except user_errors() as error:
        fail(error)
    if name is not None:
        describe_benchmark(name, benchmarks, suites)
        return
    table = Table("name", "default judges", "description")
    for bench_name, factory in benchmarks.items():
        table.add_row(*_row(bench_name, ", ".join(factory.default_judges), factory.description))
    for suite_name, suite in suites.items():
        table.add_row(*_row(suite_name, ", ".join(suite.default_judges) or "each member's", f"suite: {', '.join(suite.members)}"))
    console.print(table)


def describe_benchmark(name: str, benchmarks: dict, suites: dict) -> None:
    """`thinksafe benchmarks NAME`: plain lines, so long URLs are never cut."""
    if name in suites:
        suite = suites[name]
        say(console, f"{name} (suite): {suite.description}")
        say(console, f"members: {', '.join(suite.members)}")
        say(console, f"default judges: {', '.join(suite.default_judges) or 'each member' + chr(39) + 's'}")
        say(console, "options: those of its members (thinksafe benchmarks MEMBER)")
        return
    if name not in benchmarks:
        fail(f"unknown benchmark {name!r}; benchmarks: {', '.join(benchmarks)}; suites: {', '.join(suites) or 'none'}")
    cls = benchmarks[name]
    say(console, f"{name}: {cls.description}")
    say(console, f"default judges: {', '.join(cls.default_judges) or 'none'}")
    files = getattr(cls, "files", ())
    say(console, "files:" if files else "files: none declared")
    for data_file in files:
        pin = f" (sha256 {data_file.sha256})" if data_file.sha256 else ""
        say(console, f"  {data_file.benchmark or name}/{data_file.name}  {data_file.url}{pin}")
    declared = getattr(cls, "declared_options", ())
    say(console, "options (--option KEY=VALUE):" if declared else "options: none")
    for option in declared:
        default = "none" if option.default is None else option.default
        say(console, f"  {option.name} ({option.type}, default {default}): {option.help}")
    specs = getattr(cls, "declared_metrics", ())
    say(console, "metrics (each for every judge that provides one of its readings):" if specs else "metrics: none declared")
    for spec in specs:
        reads = " or ".join(r.reading + (f" [{', '.join(sorted(r.labels))}]" if r.labels else "") for r in spec.reads)
        better = "higher" if spec.higher_is_better else "lower"
        say(console, f"  {spec.name} (reads {reads}; {better} is better): {spec.description}")


@app.command("judges")
def judges_command() -> None:
    """List registered judges."""
    from thinksafe.judges import judge_names

    try:
        judges = judge_names()
    except user_errors() as error:
        fail(error)
    table = Table(Column("name", no_wrap=True), "labels", "readings", "needs --judge-model", "description")
    for name, cls in judges.items():
        table.add_row(*_row(name, ", ".join(cls.labels), ", ".join(sorted(cls.provided_readings())),
                            "yes" if cls.needs_model else "no", cls.description))
    console.print(table)


def _register_command_groups() -> None:
    from thinksafe.commands import register_all

    register_all(app)


_register_command_groups()


def main() -> None:
    try:
        app()
    except user_errors() as error:  # raised outside a command (e.g. a broken plug-in while parsing)
        print_error(error)
        sys.exit(2)


if __name__ == "__main__":
    main()
