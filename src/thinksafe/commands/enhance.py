"""`thinksafe enhance data | train | compare`: safe-reasoning fine-tuning and its before/after proof."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from thinksafe.commands import fail, run_command

console = Console()
err_console = Console(stderr=True)
enhance_app = typer.Typer(no_args_is_help=True, help="Safety fine-tuning: build data, train, compare before/after.")


def say(text: str) -> None:
    """Plain text: paths, model specs and notes are never read as rich markup, nor wrapped."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _row(*cells: object) -> list[Text]:
    return [Text(str(cell)) for cell in cells]


def register(app: typer.Typer) -> None:
    app.add_typer(enhance_app, name="enhance")


def _lang_prompts(path: Optional[Path]) -> Optional[dict[str, str]]:
    if path is None:
        return None
    text = path.read_text(encoding="utf-8").strip()
    return {"en": text, "zh": text}


@enhance_app.command("data")
def data_command(
    out: Annotated[Path, typer.Option(help="folder for train.jsonl, eval.jsonl, report.json, split.json, excluded.jsonl")],
    teacher: Annotated[Optional[str], typer.Option(help="teacher model spec for harmful and benign targets")] = None,
    model: Annotated[Optional[str], typer.Option(help="the model being enhanced: it writes the math data (self-distillation)")] = None,
    harmful: Annotated[Optional[list[str]], typer.Option(help="harmful pool name or file:PATH; repeatable (default: harmbench, strongreject, wildjailbreak-harmful, chisafetybench-train)")] = None,
    benign: Annotated[Optional[list[str]], typer.Option(help="benign look-alike pool; repeatable (default: wildjailbreak-benign, cse-mitre-frr)")] = None,
    math: Annotated[Optional[list[str]], typer.Option(help="math pool; repeatable (default: gaokao2023en, cn_middle_school, gaokao_math_qa, gsm8k-train, math-train)")] = None,
    no_harmful: Annotated[bool, typer.Option(help="use no harmful pool")] = False,
    no_benign: Annotated[bool, typer.Option(help="use no benign pool")] = False,
    exclude_benchmark: Annotated[Optional[list[str]], typer.Option(help="evaluation benchmark the training prompts must not overlap; repeatable (default: compare's set)")] = None,
    judge: Annotated[Optional[list[str]], typer.Option(help="safety judge for teacher candidates (NAME or NAME=SPEC); repeatable; default refusal-rules")] = None,
    guidance_judge: Annotated[str, typer.Option(help="judge grading refusals (guided > bare); 'none' to disable")] = "guidance-rules",
    judge_model: Annotated[Optional[str], typer.Option(help="model spec for LLM judges")] = None,
    teacher_samples: Annotated[int, typer.Option(help="candidates per harmful/benign prompt")] = 4,
    math_samples: Annotated[int, typer.Option(help="candidate solutions per math problem")] = 2,
    math_ratio: Annotated[float, typer.Option(help="math records per safety record")] = 1.0,
    limit_harmful: Annotated[Optional[int], typer.Option(help="a seeded stratified sample of N harmful prompts")] = None,
    limit_benign: Annotated[Optional[int], typer.Option(help="N benign prompts")] = None,
    limit_math: Annotated[Optional[int], typer.Option(help="N math problems attempted")] = None,
    eval_fraction: Annotated[float, typer.Option(help="share of records held out as the SFT eval split")] = 0.05,
    system_prompt: Annotated[Optional[Path], typer.Option(help="teacher system prompt file (default: ours, EN/ZH)")] = None,
    temperature: Annotated[float, typer.Option(help="teacher sampling temperature")] = 0.6,
    math_temperature: Annotated[Optional[float], typer.Option(help="self-distillation temperature (default: --temperature)")] = None,
    top_p: Annotated[float, typer.Option()] = 0.95,
    max_new_tokens: Annotated[int, typer.Option()] = 4096,
    base_url: Annotated[Optional[str], typer.Option(help="server URL for openai: models")] = None,
    batch_size: Annotated[int, typer.Option(help="prompts per batch for hf models")] = 16,
    data_dir: Annotated[Optional[Path], typer.Option(help="benchmark data mirror")] = None,
    store: Annotated[Optional[Path], typer.Option(help="SQLite store (generations are cached and resumed)")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Build the fine-tuning set: teacher refusals and helpful answers, self-distilled math, no evaluation overlap."""
    from thinksafe.enhance.data import DataBuilder, DataConfig
    from thinksafe.models.base import ModelOptions
    from thinksafe.schema import GenerationParams

    params = GenerationParams(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
    math_params = params if math_temperature is None else params.model_copy(update={"temperature": math_temperature})
    fields = dict(
        out=out, teacher=teacher, model=model, judge_model=judge_model, teacher_samples=teacher_samples,
        math_samples=math_samples, math_ratio=math_ratio, limit_harmful=limit_harmful, limit_benign=limit_benign,
        limit_math=limit_math, eval_fraction=eval_fraction, seed=seed, teacher_params=params, math_params=math_params,
        system_prompt=_lang_prompts(system_prompt), data_dir=data_dir, store=store,
        guidance_judge=None if guidance_judge.lower() == "none" else guidance_judge,
    )
    for key, value in (("harmful", harmful), ("benign", benign), ("math", math), ("exclude_benchmarks", exclude_benchmark), ("judges", judge)):
        if value:
            fields[key] = value
    if no_harmful:
        fields["harmful"] = []
    if no_benign:
        fields["benign"] = []
    config = DataConfig(**fields, model_options=ModelOptions(base_url=base_url, batch_size=batch_size))
    builder = DataBuilder(config, console=err_console, progress=progress)
    report = run_command(builder.run(), err_console)
    table = Table("kind", "prompts", "tried", "accepted", "kept", "rejected (why)")
    for s in report.sampling:
        why = ", ".join(f"{k}: {v}" for k, v in s.rejected_by_reason.items()) or "-"
        table.add_row(*_row(s.kind, s.prompts, s.tried, s.accepted, s.kept, why))
    console.print(table)
    say(f"records {report.records} ({report.languages}); train {report.train}, eval {report.eval}; excluded {report.excluded}")
    for note in report.notes:
        say(f"note: {note}")
    say(f"wrote {out / 'train.jsonl'}, {out / 'eval.jsonl'}, {out / 'report.json'}, {out / 'split.json'}")


@enhance_app.command("train")
def train_command(
    model: Annotated[str, typer.Option(help="hf:<hub id or local dir> to fine-tune")],
    data: Annotated[Path, typer.Option(help="folder from `enhance data` (train.jsonl, eval.jsonl) or one JSONL file")],
    out: Annotated[Path, typer.Option(help="output folder (checkpoints/, adapter/ or model/, merged/, result.json)")],
    full: Annotated[bool, typer.Option("--full", help="full-parameter fine-tuning instead of LoRA")] = False,
    merge: Annotated[bool, typer.Option("--merge", help="also write the LoRA-merged model to OUT/merged")] = False,
    epochs: Annotated[float, typer.Option()] = 2.0,
    max_steps: Annotated[int, typer.Option(help="stop after N optimizer steps (-1: by epochs)")] = -1,
    learning_rate: Annotated[Optional[float], typer.Option(help="default 1e-4 (LoRA) or 1e-5 (full)")] = None,
    batch_size: Annotated[int, typer.Option(help="sequences per device per step")] = 4,
    grad_accum: Annotated[int, typer.Option(help="gradient accumulation steps")] = 1,
    max_length: Annotated[int, typer.Option(help="tokens per sequence (longer ones are cut)")] = 4096,
    lora_r: Annotated[int, typer.Option()] = 16,
    lora_alpha: Annotated[int, typer.Option()] = 32,
    lora_dropout: Annotated[float, typer.Option()] = 0.0,
    warmup_ratio: Annotated[float, typer.Option()] = 0.03,
    max_grad_norm: Annotated[float, typer.Option(help="clip gradients to this norm (0: no clipping)")] = 1.0,
    save_steps: Annotated[int, typer.Option(help="checkpoint every N steps (resume point after a kill)")] = 200,
    eval_steps: Annotated[Optional[int], typer.Option(help="eval loss every N steps")] = None,
    logging_steps: Annotated[int, typer.Option()] = 10,
    gradient_checkpointing: Annotated[bool, typer.Option(help="trade compute for memory (large models)")] = False,
    device: Annotated[Optional[str], typer.Option(help="cuda or cpu (default: cuda when available)")] = None,
    precision: Annotated[str, typer.Option(help="GPU: auto (LoRA bf16, full mixed), bf16 (weights in bf16), mixed (fp32 master + bf16 autocast), fp32")] = "auto",
    seed: Annotated[int, typer.Option()] = 0,
    progress: Annotated[bool, typer.Option(help="show the progress bar")] = True,
) -> None:
    """Fine-tune with TRL SFT (LoRA by default), thinking kept, loss on the assistant's tokens; resumes after a kill."""
    from pydantic import ValidationError

    from thinksafe.enhance.train import TrainConfig, run_training

    try:
        config = TrainConfig(
            model=model, data=data, out=out, full=full, merge=merge, epochs=epochs, max_steps=max_steps,
            learning_rate=learning_rate, batch_size=batch_size, grad_accum=grad_accum, max_length=max_length,
            lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, warmup_ratio=warmup_ratio,
            max_grad_norm=max_grad_norm,
            save_steps=save_steps, eval_steps=eval_steps, logging_steps=logging_steps,
            gradient_checkpointing=gradient_checkpointing, device=device, precision=precision, seed=seed, progress=progress,
        )
    except ValidationError as error:
        fail(error)
    try:
        result = run_training(config)
    except (ValueError, OSError) as error:
        fail(error)
    if not result.main_process:
        return  # the main process reports for a distributed run
    if result.resumed_from:
        say(f"resumed from {result.resumed_from}")
    say(
        f"{result.method}: {result.steps} steps, {result.train_records} records ({result.train_tokens} tokens/epoch), "
        f"train loss {result.train_loss}, eval loss {result.eval_loss}, {result.runtime_s:.1f}s on {result.device}"
        + (f" x {result.processes} processes" if result.processes > 1 else "")
    )
    say(f"evaluate with --model {result.model_spec}" + (f" (merged: {result.merged_spec})" if result.merged_spec else ""))
    say(f"wrote {out / 'result.json'}")


def _cell(value: float | None, ci: tuple) -> str:
    if value is None:
        return "n/a"
    low, high = ci
    return f"{value:.3f}" if low is None else f"{value:.3f} [{low:.3f}, {high:.3f}]"


@enhance_app.command("compare")
def compare_command(
    before: Annotated[str, typer.Option(help="model spec before enhancement")],
    after: Annotated[str, typer.Option(help="model spec after (e.g. hf:<base>+<adapter dir>)")],
    out: Annotated[Path, typer.Option(help="folder for compare.json and both runs' results")] = Path("runs/compare"),
    benchmark: Annotated[Optional[list[str]], typer.Option(help="benchmark; repeatable (default: CHiSafetyBench QA, xstest, gsm8k, math500, aime24, cmath where registered)")] = None,
    split: Annotated[Optional[Path], typer.Option(help="split.json from `enhance data`: leave training prompts out")] = None,
    judge: Annotated[Optional[list[str]], typer.Option(help="judges for the safety benchmarks (math ones keep math-answer); repeatable")] = None,
    judge_model: Annotated[Optional[str], typer.Option(help="model spec for LLM judges")] = None,
    limit: Annotated[Optional[int], typer.Option(help="a seeded stratified sample of N items per benchmark")] = None,
    max_new_tokens: Annotated[int, typer.Option()] = 8192,
    temperature: Annotated[float, typer.Option()] = 0.6,
    top_p: Annotated[float, typer.Option()] = 0.95,
    samples: Annotated[int, typer.Option(help="generations per item")] = 1,
    base_url: Annotated[Optional[str], typer.Option(help="server URL for openai: models")] = None,
    batch_size: Annotated[int, typer.Option(help="prompts per batch for hf models")] = 16,
    data_dir: Annotated[Optional[Path], typer.Option()] = None,
    store: Annotated[Optional[Path], typer.Option(help="one SQLite store for both (default: one per model weights under OUT/stores)")] = None,
    all_groups: Annotated[bool, typer.Option(help="print per-category rows too (compare.json always has them)")] = False,
    seed: Annotated[int, typer.Option()] = 0,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Run the same benchmarks on both models; each metric before, after, paired difference and verdict."""
    from thinksafe.enhance.compare import CompareConfig, run_compare
    from thinksafe.models.base import ModelOptions
    from thinksafe.schema import GenerationParams

    config = CompareConfig(
        before=before, after=after, out=out, benchmarks=benchmark, split=split, safety_judges=judge, judge_model=judge_model,
        limit=limit, params=GenerationParams(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, n=samples),
        model_options=ModelOptions(base_url=base_url, batch_size=batch_size), data_dir=data_dir, store=store, seed=seed,
        progress=progress,
    )
    report = run_command(run_compare(config, console=err_console), err_console)
    table = Table(title=Text(f"before {report.before}  ->  after {report.after}"))
    for column in ("benchmark", "metric", "channel", "group", "judge", "better", "before", "after", "diff [95% CI]", "verdict"):
        table.add_column(column)
    for row in report.rows:
        if row.group != "all" and not all_groups:
            continue
        diff = "n/a" if row.diff is None else f"{row.diff:+.3f} [{row.diff_ci[0]:+.3f}, {row.diff_ci[1]:+.3f}] (n={row.paired_n})"
        table.add_row(*_row(
            row.benchmark, row.metric, row.channel, row.group, row.judge, "higher" if row.higher_is_better else "lower",
            _cell(row.before, row.before_ci), _cell(row.after, row.after_ci), diff, row.verdict,
        ))
    console.print(table)
    for name, count in report.excluded_by_split.items():
        if count:
            say(f"{name}: {count} items left out (training prompts)")
    for note in report.notes:
        say(f"note: {note}")
    say(f"wrote {out / 'compare.json'}")
