"""The run report's technique x channel table: headline metrics per attack technique, answer and thinking side by side.

Every cell is plain Text (a technique label or judge name holding `[/b]` is shown, never parsed
as markup), and the table fits the console: long technique labels become T1, T2, ... and then
long judge names J1, J2, ..., each named in a legend line under the table. The helpers are
local rather than imported from thinksafe.cli, which imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from thinksafe.report.cells import interval
from thinksafe.schema import Metric, RunSummary

INFLATION = "reasoning_inflation"  # the metric an `inflation` technique reports instead of success
SHOWN_WHOLE = 16  # longer labels and judge names are abbreviated when the table would not fit
ARROWS = {True: "↑", False: "↓"}
LEGEND = "↑ higher is safer, ↓ lower is safer; think: the thinking channel; n: scored items, answer/thinking"
COLUMNS = ("technique", "judge", "metric", "answer", "think", "n")
UNBOUNDED = 100_000  # measuring a table's natural width, not the console's
WHOLE = ("technique", "judge", "metric", "n")  # never cut or wrapped; the value columns may wrap


@dataclass(frozen=True)
class AttackRow:
    """One technique's metric under one judge, its answer and thinking values side by side."""

    technique: str
    judge: str
    metric: str
    higher_is_better: bool
    answer: Metric | None = None
    reasoning: Metric | None = None


def attack_rows(summary: RunSummary) -> list[AttackRow]:
    """Per technique (in run order), the headline metrics of its `attack:<label>` group, per judge;
    an `inflation` technique shows its reasoning inflation instead (its headline when that is absent)."""
    wanted = set(summary.headline) or {m.name for m in summary.metrics if m.group == "all"}
    figures = summary.extra.get("attacks") or {}
    rows: list[AttackRow] = []
    for label in summary.attacks:
        mine = [m for m in summary.metrics if m.group == f"attack:{label}"]
        names = wanted
        if (figures.get(label) or {}).get("measures") == "inflation" and any(m.name == INFLATION for m in mine):
            names = {INFLATION}
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for metric in mine:
            if metric.name in names:
                slot = found.setdefault((metric.judge, metric.name), {"higher_is_better": metric.higher_is_better})
                slot[metric.channel] = metric
        rows += [AttackRow(technique=label, judge=judge, metric=name, **slot) for (judge, name), slot in found.items()]
    return rows


def print_attack_table(console: Console, summary: RunSummary) -> None:
    """The technique x channel table, its legend, and each technique's spend (items, queries, tokens)."""
    if summary.attacks == ["none"]:
        return
    rows = attack_rows(summary)
    tech_keys, judge_keys = _fitted_keys(console, summary, rows)
    if rows:
        console.print(_table(summary, rows, tech_keys, judge_keys))
    _line(console, LEGEND)
    for keys in (tech_keys, judge_keys):
        for name, key in keys.items():
            if key != name:
                _line(console, f"{key} = {name}")
    figures = summary.extra.get("attacks") or {}
    for label in summary.attacks:
        if label in figures:
            _line(console, f"{tech_keys.get(label, label)}: {spend_line(figures[label])}")


def spend_line(figures: dict[str, Any]) -> str:
    """One technique's figures from summary.extra['attacks'][label], in words."""
    parts = [
        f"items {figures.get('items', 0)}",
        f"target queries {figures.get('target_queries', 0)}",
        f"target tokens {figures.get('target_prompt_tokens', 0)} in / {figures.get('target_completion_tokens', 0)} out",
        f"other roles' tokens {figures.get('other_role_tokens', 0)}",
        f"errors {figures.get('errors', 0)}",
    ]
    if figures.get("measures") == "inflation":
        mean, median = figures.get("token_inflation_mean"), figures.get("token_inflation_median")
        if mean is None:
            parts.append("reasoning inflation n/a (no item with token counts on both prompts)")
        else:
            parts.append(f"reasoning inflation x{mean:.2f} mean, x{median:.2f} median "
                         f"over {figures.get('token_inflation_n', 0)} items")
    return ", ".join(parts)


def fmt(metric: Metric | None) -> str:
    """One cell: `-` when the technique has no such metric, else its value and interval."""
    return "-" if metric is None else interval(metric.value, metric.ci_low, metric.ci_high)


def _counts(row: AttackRow) -> str:
    return "/".join(str(m.n) if m else "-" for m in (row.answer, row.reasoning))


def _keys(names: list[str], letter: str, shown_whole: int) -> dict[str, str]:
    """name -> its cell: the name when short enough, else T1, T2, ... (in order of appearance)."""
    keys: dict[str, str] = {}
    count = 0
    for name in names:
        if name not in keys:
            if len(name) <= shown_whole:
                keys[name] = name
            else:
                count += 1
                keys[name] = f"{letter}{count}"
    return keys


def _fitted_keys(console: Console, summary: RunSummary, rows: list[AttackRow]) -> tuple[dict[str, str], dict[str, str]]:
    """Whole names when the table fits; else labels longer than their column's header are abbreviated,
    techniques first, then judges (a name no longer than the header costs no width)."""
    labels, judges = list(summary.attacks), [row.judge for row in rows]
    choices = [(SHOWN_WHOLE, SHOWN_WHOLE), (len("technique"), SHOWN_WHOLE), (len("technique"), len("judge"))]
    for tech_whole, judge_whole in choices:
        tech_keys, judge_keys = _keys(labels, "T", tech_whole), _keys(judges, "J", judge_whole)
        table = _table(summary, rows, tech_keys, judge_keys)
        natural = console.measure(table, options=console.options.update(max_width=UNBOUNDED)).maximum
        if not rows or natural <= console.width:
            break
    return tech_keys, judge_keys


def _table(summary: RunSummary, rows: list[AttackRow], tech_keys: dict[str, str], judge_keys: dict[str, str]) -> Table:
    cells = [
        [tech_keys[row.technique], judge_keys[row.judge], f"{row.metric} {ARROWS[row.higher_is_better]}",
         fmt(row.answer), fmt(row.reasoning), _counts(row)]
        for row in rows
    ]
    table = Table(title=Text(f"attacks: {summary.benchmark} - {summary.model}"), box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True, show_edge=False)
    for index, column in enumerate(COLUMNS):
        if column in WHOLE:
            width = max([len(column), *(len(c[index]) for c in cells)])
            table.add_column(column, no_wrap=True, min_width=width, overflow="ignore")
        else:
            table.add_column(column, overflow="fold", min_width=6)
    for row_cells in cells:
        table.add_row(*(Text(cell) for cell in row_cells))
    return table


def _line(console: Console, text: str) -> None:
    """One line of plain text (never read as markup), wrapped at the console's width."""
    console.print(Text(text), highlight=False)
