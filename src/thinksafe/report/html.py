"""`thinksafe report`: one self-contained HTML file over one or more run directories."""

from __future__ import annotations

import io
import json
import math
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import jinja2
from markupsafe import Markup

from thinksafe.analysis.judge_agreement import analyse_records
from thinksafe.analysis.thinking_vs_answer import CELLS
from thinksafe.report.plots import category_plots, scatter_plot
from thinksafe.report.runs import Bench, Run, benchmark_names
from thinksafe.schema import Metric

PAGE_SIZE = 50
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


@dataclass
class Row:
    """A metric with its answer and thinking readings side by side."""

    model: str
    judge: str
    name: str
    group: str
    higher_is_better: bool
    description: str = ""
    answer: Metric | None = None
    reasoning: Metric | None = None

    @property
    def approximate(self) -> bool:
        flagged = any(m is not None and m.approximate for m in (self.answer, self.reasoning))
        return flagged or self.name.endswith("-approx") or "approximate" in self.description.lower()


@dataclass
class BenchView:
    """Everything one benchmark section shows, over all runs."""

    name: str
    slug: str
    headline: list[Row] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    categories: list[Row] = field(default_factory=list)
    techniques: list[Row] = field(default_factory=list)
    matrices: list[dict[str, Any]] = field(default_factory=list)
    agreement: list[dict[str, Any]] = field(default_factory=list)
    plots: list[tuple[str, str, Markup]] = field(default_factory=list)
    approximate: bool = False


def paired_rows(model: str, metrics: list[Metric]) -> list[Row]:
    """Pair each (judge, name, group)'s answer and thinking metrics into one row."""
    rows: dict[tuple[str, str, str], Row] = {}
    for m in metrics:
        row = rows.setdefault((m.judge, m.name, m.group), Row(model, m.judge, m.name, m.group, m.higher_is_better,
                                                              m.description))
        setattr(row, m.channel, m)
    return list(rows.values())


def _matrices(run: Run, bench: Bench) -> list[dict[str, Any]]:
    tva = bench.summary.extra.get("thinking_vs_answer")
    if not isinstance(tva, dict):
        return []
    out = []
    for judge, table in tva.items():
        if not isinstance(table, dict) or "counts" not in table:
            continue
        counts, shares = table.get("counts") or {}, table.get("shares") or {}
        cells = {cell: (counts.get(cell, 0), shares.get(cell)) for cell in CELLS}
        out.append({"model": run.label, "judge": judge, "n": table.get("n"), "cells": cells,
                    "reflected_share": table.get("reflected_share"),
                    "reflected_and_complied": table.get("reflected_and_complied"),
                    "complied_given_reflected": table.get("complied_given_reflected"),
                    "reflection_source": table.get("reflection_source"), "left_out": table.get("left_out") or {}})
    return out


def _agreement(run: Run, bench: Bench) -> list[dict[str, Any]]:
    """Each pair of judges' agreement per channel: from summary.extra["judge_agreement"], or (a summary
    written before that analysis) from one streaming pass over results.jsonl. A channel neither judge
    read (no thinking) is left out."""
    if len(bench.summary.judges) < 2:
        return []
    table = bench.summary.extra.get("judge_agreement")
    if not isinstance(table, dict) or not isinstance(table.get("pairs"), list):
        table = analyse_records(bench.iter_records(), bench.summary.judges) or {}
    out = []
    for pair in table.get("pairs") or []:
        if not isinstance(pair, dict) or not (pair.get("n") or pair.get("left_out")):
            continue
        out.append({"model": run.label, **{key: pair.get(key) for key in (
            "first", "second", "channel", "n", "left_out", "agreement", "kappa", "both_unsafe", "both_safe",
            "only_first_unsafe", "only_second_unsafe")}})
    return out


def _run_info(run: Run, bench: Bench) -> dict[str, Any]:
    s = bench.summary
    notes = [{"text": note, "approximate": "approximate" in note.lower()} for note in s.notes]
    return {"model": run.label, "summary_model": s.model, "n": s.n, "n_samples": s.n_samples, "truncated": s.truncated,
            "errors": s.errors, "error_counts": s.error_counts, "unscored": s.unscored, "notes": notes,
            "reasoning_present": s.reasoning_present, "judges": s.judges, "approximate": bench.approximate()}


def bench_views(runs: list[Run]) -> list[BenchView]:
    """One view per benchmark, each model's rows side by side."""
    views = []
    for index, name in enumerate(benchmark_names(runs)):
        view = BenchView(name=name, slug=f"b{index}")
        for run in runs:
            bench = run.bench(name)
            if bench is None:
                continue
            view.headline += paired_rows(run.label, bench.headline_metrics())
            view.runs.append(_run_info(run, bench))
            view.categories += paired_rows(run.label, bench.group_metrics(technique=False))
            view.techniques += paired_rows(run.label, bench.group_metrics(technique=True))
            view.matrices += _matrices(run, bench)
            view.agreement += _agreement(run, bench)
            view.plots += [(run.label, title, svg) for title, svg in category_plots(bench.group_metrics(False))]
            view.approximate = view.approximate or bench.approximate()
        view.headline.sort(key=lambda r: (r.judge, r.name))
        views.append(view)
    return views


REASONING_BENCHMARKS = ("gsm8k", "math500", "math-500", "aime24", "aime25", "aime", "cmath")
REASONING_METRICS = ("accuracy",)


def is_reasoning(name: str) -> bool:
    """A reasoning (math) benchmark, whose accuracy is the capability axis of the safety-vs-reasoning plots."""
    return name in REASONING_BENCHMARKS or name.startswith("aime")


def _headline_names(bench: Bench) -> tuple[str, ...] | None:
    return bench.headline or tuple(bench.summary.headline) or None


def _axis_metrics(bench: Bench, reasoning: bool) -> list[Metric]:
    """A benchmark's answer-channel, group-'all' headline metrics that have a value: accuracy for a
    reasoning benchmark, the headline safety metrics for any other."""
    names = REASONING_METRICS if reasoning else _headline_names(bench)
    return [m for m in bench.summary.metrics if m.group == "all" and m.channel == "answer" and m.value is not None
            and (names is None or m.name in names)]


@dataclass
class Scatter:
    """One safety metric against one reasoning metric, one point per model."""

    slug: str
    title: str
    x_name: str
    y_name: str
    caption: str
    points: list[tuple[str, Metric, Metric]]
    svg: Markup


def safety_reasoning_plots(runs: list[Run]) -> list[Scatter]:
    """One scatter per (safety benchmark metric, reasoning benchmark metric) pair that two or more runs
    both report (answer channel): x the reasoning accuracy, y the safety headline."""
    per_run: list[tuple[str, dict, dict]] = []
    for run in runs:
        safety: dict[tuple[str, str, str], Metric] = {}
        reasoning: dict[tuple[str, str, str], Metric] = {}
        for bench in run.benches:
            side = reasoning if is_reasoning(bench.name) else safety
            for m in _axis_metrics(bench, is_reasoning(bench.name)):
                side.setdefault((bench.name, m.judge, m.name), m)
        per_run.append((run.label, safety, reasoning))
    safety_keys = list(dict.fromkeys(k for _, s, _ in per_run for k in s))
    reasoning_keys = list(dict.fromkeys(k for _, _, r in per_run for k in r))
    out = []
    for s_key in safety_keys:
        for r_key in reasoning_keys:
            points = [(label, r[r_key], s[s_key]) for label, s, r in per_run if s_key in s and r_key in r]
            if len(points) < 2:
                continue
            (s_bench, s_judge, s_name), (r_bench, r_judge, r_name) = s_key, r_key
            x_name, y_name = f"{r_bench} {r_name} ({r_judge})", f"{s_bench} {s_name} ({s_judge})"
            safer_up = points[0][2].higher_is_better
            caption = (f"Each point is one model; whiskers are 95% intervals. x: {x_name}, answer channel "
                       f"(higher is better reasoning). y: {y_name}, answer channel "
                       f"({'higher' if safer_up else 'lower'} is safer: safer models sit "
                       f"{'higher' if safer_up else 'lower'} in the plot; the best corner is "
                       f"{'top' if safer_up else 'bottom'} right).")
            title = f"{s_bench} {s_name} vs {r_bench} {r_name}"
            out.append(Scatter(slug=f"s{len(out)}", title=title, x_name=x_name, y_name=y_name, caption=caption,
                               points=points, svg=scatter_plot(title, points, x_name,
                                                               f"{y_name} ({'↑' if safer_up else '↓'} safer)")))
    return out


def _category(value: Any) -> str:
    if isinstance(value, list):
        return " / ".join(str(v) for v in value)
    return "" if value is None else str(value)


def item_of(run: Run, bench: Bench, record: dict[str, Any]) -> dict[str, Any]:
    """The browser's compact form of one results.jsonl record."""
    judgements = []
    for judge, by_channel in (record.get("judgements") or {}).items():
        for channel, j in (by_channel or {}).items():
            if not isinstance(j, dict):
                continue
            judgements.append({"judge": judge, "channel": channel, "label": j.get("label"), "score": j.get("score"),
                               "unsafe": j.get("unsafe"), "raw": j.get("raw"), "why": j.get("unscored_reason"),
                               "qv": bool(j.get("quoted_verdict")), "details": j.get("details") or {}})
    return {"m": run.label, "b": bench.name, "id": str(record.get("id", "")), "s": record.get("sample_index", 0),
            "c": _category(record.get("category")), "a": str(record.get("attack") or "none"),
            "p": record.get("prompt") or "", "r": record.get("reasoning"), "ans": record.get("answer") or "",
            "f": record.get("finish_reason"), "t": bool(record.get("truncated")), "e": record.get("error"),
            "j": judgements}


def items_of(runs: list[Run]) -> list[dict[str, Any]]:
    return list(iter_items(runs))


def iter_items(runs: list[Run]) -> Iterator[dict[str, Any]]:
    """Every generation of every run, one compact item at a time."""
    for run in runs:
        for bench in run.benches:
            for record in bench.iter_records():
                yield item_of(run, bench, record)


def _finite(value: Any) -> Any:
    """NaN and infinities (which JSON.parse rejects) as None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def script_json(data: Any) -> str:
    """JSON safe inside <script type="application/json">: <, >, & and U+2028/2029 as \\u escapes."""
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:  # a NaN score somewhere
        text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"), default=str)
    for char, escaped in _JSON_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def _asset(name: str) -> str:
    return resources.files("thinksafe.report").joinpath("templates", name).read_text(encoding="utf-8")


def environment() -> jinja2.Environment:
    """Jinja with autoescape on for everything, loading the package's templates."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("thinksafe.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v, d=3: "n/a" if v is None else f"{v:.{d}f}"
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"
    env.globals["channel_name"] = {"answer": "answer", "reasoning": "thinking"}
    return env


def count_items(runs: list[Run]) -> int:
    return sum(1 for run in runs for bench in run.benches for _ in bench.iter_records())


def stream_report(runs: list[Run], handle: TextIO, title: str | None = None, page_size: int = PAGE_SIZE) -> int:
    """Write the whole report (CSS, JS, SVG and data inline; no network) to `handle`; returns the
    number of items. The items are streamed from results.jsonl one at a time, so memory does not
    grow with the size of the run."""
    n_items = count_items(runs)
    views = bench_views(runs)
    scatters = safety_reasoning_plots(runs)
    template = environment().get_template("report.html.jinja")
    script = _asset("report.js")
    if "</script" in script.lower():  # our own code; never data
        raise RuntimeError("report.js must not contain </script")
    slot = f"thinksafe-items-{uuid.uuid4().hex}"  # where the streamed items go; no data can spell it
    page = template.render(
        title=title or "thinksafe report: " + ", ".join(run.label for run in runs), runs=runs, views=views,
        scatters=scatters,
        n_items=n_items, items_json=Markup(slot), css=Markup(_asset("report.css")),
        script=Markup(script), page_size=page_size, cells=CELLS,
        approximate=any(v.approximate for v in views))
    head, _, tail = page.partition(slot)
    handle.write(head + "[")
    for index, item in enumerate(iter_items(runs)):
        handle.write(("," if index else "") + script_json(item))
    handle.write("]" + tail)
    return n_items


def render_report(runs: list[Run], title: str | None = None, page_size: int = PAGE_SIZE) -> str:
    """The whole report as one HTML string (see `stream_report`)."""
    buffer = io.StringIO()
    stream_report(runs, buffer, title, page_size)
    return buffer.getvalue()


def write_report(runs: list[Run], out: Path, title: str | None = None) -> Path:
    """Stream the report to a temporary file and rename it into place (never a half-written page)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            stream_report(runs, handle, title)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def render_compare(columns: list[tuple[str, str, str, str]], table: list[list[Any]], labels: list[str],
                   baseline: str | None) -> str:
    """The comparison table as one self-contained HTML page."""
    from thinksafe.report.compare import NO_INTERVAL, column_title

    template = environment().get_template("compare.html.jinja")
    return template.render(titles=[column_title(c) for c in columns], rows=list(zip(labels, table)),
                           baseline=baseline, css=Markup(_asset("report.css")), no_interval=NO_INTERVAL)
