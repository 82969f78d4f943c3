"""`thinksafe judge-eval`: a judge's agreement with human labels (thinksafe/judges/judge_eval.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from thinksafe.commands import fail, user_errors

console = Console()
err_console = Console(stderr=True)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _row(*cells: object) -> list[Text]:
    return [Text(str(cell)) for cell in cells]


def _headers(names) -> list[str]:  # noqa: ANN001 - label names
    return [escape(str(name)) for name in names]


def print_report(report) -> None:  # noqa: ANN001 - JudgeEvalReport
    stats = report.stats
    say(f"judge {report.judge}{'=' + report.judge_model if report.judge_model else ''} on {report.data} "
        f"({report.format}, {report.encoding})")
    say(f"reading: {report.reading}")
    table = Table("rows", "scored", "unscored", "no reading", "agreement", "kappa", "precision", "recall", "F1", "FPR", "FNR")
    table.add_row(*_row(report.rows, report.scored, report.unscored, report.unread, _fmt(stats.agreement),
                        _fmt(stats.kappa), _fmt(stats.precision), _fmt(stats.recall), _fmt(stats.f1), _fmt(stats.fpr),
                        _fmt(stats.fnr)))
    console.print(table)
    matrix = Table("human \\ judge", *_headers(next(iter(report.confusion.values())).keys()), title="confusion matrix")
    for human, row in report.confusion.items():
        matrix.add_row(*_row(human, *row.values()))
    console.print(matrix)
    if report.three_way is not None:
        three = report.three_way
        say(f"three-way: n {three.n}, agreement {_fmt(three.agreement)}, kappa {_fmt(three.kappa)}")
        grid = Table("human \\ judge", *_headers(next(iter(three.confusion.values())).keys()))
        for human, row in three.confusion.items():
            grid.add_row(*_row(human, *row.values()))
        console.print(grid)
    for note in report.notes:
        say(f"note: {note}")


def register(app: typer.Typer) -> None:
    @app.command("judge-eval")
    def judge_eval_command(
        judge: Annotated[str, typer.Option(help="judge NAME or NAME=MODEL_SPEC")],
        data: Annotated[Path, typer.Option(help="labelled file")],
        format: Annotated[str, typer.Option(help="gptfuzz, xstest-v2, jbb-judge-comparison or csv")],  # noqa: A002
        judge_model: Annotated[Optional[str], typer.Option(help="model spec for judges that need one")] = None,
        column: Annotated[Optional[list[str]], typer.Option(help="csv: ROLE=COLUMN for prompt, response, label (harmful); repeatable")] = None,
        positive: Annotated[Optional[list[str]], typer.Option(help="csv: label values meaning the positive class; repeatable")] = None,
        target: Annotated[Optional[str], typer.Option(help="csv: unsafe (default) or refusal")] = None,
        encoding: Annotated[Optional[str], typer.Option(help="file encoding (default: UTF-8, else cp1252 when it decodes, else Mac Roman; the one used is printed)")] = None,
        questions: Annotated[Optional[Path], typer.Option(help="gptfuzz: question list (default: beside --data)")] = None,
        question_range: Annotated[Optional[str], typer.Option(help="gptfuzz: only questions A-B, e.g. 70-99")] = None,
        out: Annotated[Optional[Path], typer.Option(help="write the report as JSON")] = None,
        store: Annotated[Optional[Path], typer.Option(help="SQLite store for judgements (default: the eval store)")] = None,
        base_url: Annotated[Optional[str], typer.Option(help="server URL for openai: judge models")] = None,
        api_key_env: Annotated[str, typer.Option(help="environment variable holding the API key")] = "OPENAI_API_KEY",
        concurrency: Annotated[int, typer.Option(help="requests in flight for served judges")] = 32,
        batch_size: Annotated[int, typer.Option(help="prompts per batch for hf judges")] = 16,
    ) -> None:
        """Agreement, kappa, precision/recall/F1, FPR/FNR and confusion matrix of a judge against human labels."""
        from thinksafe.judges.judge_eval import DEFAULT_POSITIVES, evaluate_judge_async, load_data, parse_range
        from thinksafe.models.base import ModelOptions
        from thinksafe.pipeline import JudgeSpec, default_store_path
        from thinksafe.store import Store

        try:
            spec = JudgeSpec.parse(judge, judge_model)
            columns = {}
            for item in column or []:
                role, sep, name = item.partition("=")
                if not sep:
                    raise ValueError(f"--column takes ROLE=COLUMN, got {item!r}")
                columns[role.strip()] = name.strip()
            if target not in (None, "unsafe", "refusal"):
                raise ValueError("--target must be unsafe or refusal")
            loaded = load_data(
                data, format, encoding=encoding, columns=columns, positives=tuple(positive or DEFAULT_POSITIVES),
                target=target, questions=questions, question_range=parse_range(question_range),  # type: ignore[arg-type]
            )
            options = ModelOptions(base_url=base_url, api_key_env=api_key_env, concurrency=concurrency, batch_size=batch_size)
            with Store(store or default_store_path()) as db:
                report = asyncio.run(evaluate_judge_async(spec.name, spec.model, loaded, model_options=options, store=db))
        except (*user_errors(), FileNotFoundError) as error:
            fail(error)
        print_report(report)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(report.model_dump_json(indent=2), encoding="utf-8")
            say(f"wrote {out}")
