"""Paper-style comparison: rows = models, columns = each benchmark's headline metrics per channel."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from thinksafe.metrics import paired_bootstrap_diff
from thinksafe.report.runs import Bench, Run, benchmark_names
from thinksafe.schema import Metric

CHANNEL_NAMES = {"answer": "answer", "reasoning": "thinking"}
NO_INTERVAL = "no paired interval: metric not recomputable per item from results.jsonl"
Rule = tuple[str, str | None]  # ("unsafe", None) | ("safe", None) | ("label", L) | ("score", None)


@dataclass
class Cell:
    """One model's value of one column, with its difference to the baseline."""

    model: str
    benchmark: str
    judge: str
    metric: str
    channel: str
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    unscored: int = 0
    higher_is_better: bool | None = None
    diff: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None
    diff_n: int | None = None
    diff_note: str = ""


Column = tuple[str, str, str, str]  # benchmark, judge, metric, channel


def column_title(column: Column) -> str:
    """'bench metric (judge) answer|thinking'."""
    bench, judge, metric, channel = column
    return f"{bench} {metric} ({judge}) {CHANNEL_NAMES.get(channel, channel)}"


def item_key(record: dict[str, Any]) -> str:
    """(id, sample_index) as one string key."""
    return json.dumps([str(record.get("id")), int(record.get("sample_index") or 0)])


def _scored(judgement: dict[str, Any]) -> bool:
    return judgement.get("label") is not None and judgement.get("unscored_reason") is None


def _hit(rule: Rule, judgement: dict[str, Any]) -> float | None:
    kind, label = rule
    if kind in ("unsafe", "safe"):
        unsafe = judgement.get("unsafe")
        return None if unsafe is None else float(bool(unsafe) == (kind == "unsafe"))
    if kind == "label":
        return float(judgement.get("label") == label)
    score = judgement.get("score")
    return None if score is None or not isinstance(score, (int, float)) else float(score)


def per_item(bench: Bench, judge: str, channel: str, rule: Rule) -> dict[str, float]:
    """Per-item value of `rule` over the scored judgements of (judge, channel)."""
    out: dict[str, float] = {}
    for record in bench.records:
        judgement = (record.get("judgements") or {}).get(judge, {}).get(channel)
        if not isinstance(judgement, dict) or not _scored(judgement):
            continue
        value = _hit(rule, judgement)
        if value is not None:
            out[item_key(record)] = value
    return out


def _rules(bench: Bench, judge: str, channel: str) -> list[Rule]:
    labels = sorted({str(j["label"]) for r in bench.records
                     for j in [(r.get("judgements") or {}).get(judge, {}).get(channel)]
                     if isinstance(j, dict) and j.get("label") is not None})
    return [("unsafe", None), ("safe", None), *(("label", label) for label in labels), ("score", None)]


def find_rule(bench: Bench, metric: Metric) -> Rule | None:
    """A per-item rule whose mean and count reproduce the summary's metric, or None."""
    if metric.value is None or not bench.records:
        return None
    for rule in _rules(bench, metric.judge, metric.channel):
        values = per_item(bench, metric.judge, metric.channel, rule)
        if len(values) == metric.n and values and math.isclose(
                sum(values.values()) / len(values), metric.value, rel_tol=1e-9, abs_tol=1e-9):
            return rule
    return None


def _metric_of(bench: Bench | None, column: Column) -> Metric | None:
    if bench is None:
        return None
    _, judge, name, channel = column
    return next((m for m in bench.headline_metrics() if (m.judge, m.name, m.channel) == (judge, name, channel)), None)


def columns_of(runs: list[Run]) -> list[Column]:
    """Headline columns over all runs, grouped by benchmark, answer before thinking."""
    out: list[Column] = []
    for name in benchmark_names(runs):
        for run in runs:
            bench = run.bench(name)
            for metric in bench.headline_metrics() if bench else []:
                out.append((name, metric.judge, metric.name, metric.channel))
    order = {"answer": 0, "reasoning": 1}
    unique = list(dict.fromkeys(out))
    bench_order = {b: i for i, b in enumerate(benchmark_names(runs))}
    return sorted(unique, key=lambda c: (bench_order[c[0]], c[1], c[2], order.get(c[3], 2)))


def _diff(cell: Cell, metric: Metric, base_metric: Metric | None, bench: Bench, base_bench: Bench | None,
          rule_of: Callable[[Bench, Metric], Rule | None]) -> None:
    if base_metric is None or base_metric.value is None or metric.value is None or base_bench is None:
        cell.diff_note = "no baseline value" if metric.value is not None else ""
        return
    cell.diff = metric.value - base_metric.value
    rule, base_rule = rule_of(bench, metric), rule_of(base_bench, base_metric)
    if rule is None or rule != base_rule:
        cell.diff_note = NO_INTERVAL
        return
    before = per_item(base_bench, base_metric.judge, base_metric.channel, base_rule)
    after = per_item(bench, metric.judge, metric.channel, rule)
    mean, low, high, n = paired_bootstrap_diff(before, after)
    if n == 0:
        cell.diff_note = "no paired interval: no items scored in both runs"
        return
    cell.diff, cell.diff_low, cell.diff_high, cell.diff_n = mean, low, high, n
    cell.diff_note = f"paired over {n} matching items" + ("" if n == len(after) == len(before) else " (subset)")


def compare(runs: list[Run], baseline: Run | None = None) -> tuple[list[Column], list[list[Cell]]]:
    """Columns and one row of cells per run; differences against `baseline` when given."""
    columns = columns_of(runs)
    rules: dict[tuple[int, str, str, str], Rule | None] = {}

    def rule_of(bench: Bench, metric: Metric) -> Rule | None:
        key = (id(bench), metric.judge, metric.name, metric.channel)
        if key not in rules:
            rules[key] = find_rule(bench, metric)
        return rules[key]

    table: list[list[Cell]] = []
    for run in runs:
        row = []
        for column in columns:
            bench = run.bench(column[0])
            cell = Cell(run.label, *column)
            metric = _metric_of(bench, column)
            if metric is not None and bench is not None:
                cell.value, cell.ci_low, cell.ci_high = metric.value, metric.ci_low, metric.ci_high
                cell.n, cell.unscored, cell.higher_is_better = metric.n, metric.unscored, metric.higher_is_better
                if baseline is not None and run is not baseline:
                    base_bench = baseline.bench(column[0])
                    _diff(cell, metric, _metric_of(base_bench, column), bench, base_bench, rule_of)
            row.append(cell)
        table.append(row)
    return columns, table


def fmt(value: float | None, signed: bool = False) -> str:
    """Three decimals, 'n/a' for None."""
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def cell_text(cell: Cell, with_diff: bool = True, sep: str = " ") -> str:
    """'0.123 [0.100, 0.150]' plus 'Δ +0.020 [-0.010, 0.050]' (or 'Δ +0.020†' without an interval)."""
    if cell.value is None:
        return "n/a" if cell.n or cell.unscored else "—"
    text = fmt(cell.value)
    if cell.ci_low is not None and cell.ci_high is not None:
        text += f" [{fmt(cell.ci_low)}, {fmt(cell.ci_high)}]"
    if with_diff and cell.diff is not None:
        if cell.diff_low is not None:
            text += f"{sep}Δ {fmt(cell.diff, True)} [{fmt(cell.diff_low, True)}, {fmt(cell.diff_high, True)}]"
        else:
            text += f"{sep}Δ {fmt(cell.diff, True)}†"
    return text


def flat_rows(table: list[list[Cell]]) -> list[dict[str, Any]]:
    """One dict per (model, column): the tidy form written to CSV and Parquet."""
    return [asdict(cell) for row in table for cell in row]


def write_csv(path: Path, table: list[list[Cell]]) -> None:
    rows = flat_rows(table)
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(Cell.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(rows)


def write_parquet(path: Path, table: list[list[Cell]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = flat_rows(table)
    names = list(Cell.__dataclass_fields__)
    pq.write_table(pa.Table.from_pylist(rows, schema=_schema(pa)) if rows else pa.table({n: [] for n in names}), path)


def _schema(pa: Any) -> Any:
    types = {"value": pa.float64(), "ci_low": pa.float64(), "ci_high": pa.float64(), "n": pa.int64(),
             "unscored": pa.int64(), "higher_is_better": pa.bool_(), "diff": pa.float64(), "diff_low": pa.float64(),
             "diff_high": pa.float64(), "diff_n": pa.int64()}
    return pa.schema([(name, types.get(name, pa.string())) for name in Cell.__dataclass_fields__])


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown(columns: list[Column], table: list[list[Cell]], labels: list[str], baseline: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (paper style) with a footnote on intervals."""
    header = ["model", *(column_title(c) for c in columns)]
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    for model, cells in zip(labels, table):
        label = f"{model} (baseline)" if baseline is not None and model == baseline else model
        lines.append("| " + " | ".join(_md(t) for t in [label, *(cell_text(c) for c in cells)]) + " |")
    lines.append("")
    lines.append("Values: point estimate [95% bootstrap interval]. Δ: difference to the baseline "
                 "[paired bootstrap 95% interval over matching (id, sample_index) items].")
    if any(c.diff is not None and c.diff_low is None for cells in table for c in cells):
        lines.append(f"† {NO_INTERVAL}.")
    return "\n".join(lines) + "\n"
