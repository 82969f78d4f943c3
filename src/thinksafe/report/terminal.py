"""Run and suite tables for the terminal: names kept whole, values with compact intervals, plain text only."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from thinksafe.report.cells import interval
from thinksafe.schema import RunSummary, SuiteSummary


def say(target: Console, text: str) -> None:
    """One line of plain text: user paths, model names and data are never read as rich markup."""
    target.print(text, markup=False, highlight=False, soft_wrap=True)


JUDGE_SHOWN_WHOLE = 16  # longer judge names are shown as J1, J2, ... with a legend under the table
ARROWS = {True: "↑", False: "↓"}
ARROW_LEGEND = "↑ higher is safer, ↓ lower is safer"


_fmt = interval  # one cell: `0.491 ±0.063`, or `[lo, hi]` when lopsided


def _row(*cells: object) -> list[Text]:
    """Table cells as plain Text: a model name or data value holding `[/b]` is shown, not parsed."""
    return [Text(str(cell)) for cell in cells]


def _quoted(summary: RunSummary, judge: str) -> tuple[int, int]:
    found = summary.quoted_verdicts.get(judge, {})
    return found.get("answer", 0), found.get("reasoning", 0)


def _judge_keys(judges: list[str], shown_whole: int = JUDGE_SHOWN_WHOLE) -> dict[str, str]:
    """judge name -> what its table cell shows: the name when short, else J1, J2, ... (in order of appearance)."""
    keys: dict[str, str] = {}
    for judge in judges:
        if judge not in keys:
            keys[judge] = judge if len(judge) <= shown_whole else f"J{sum(k != j for j, k in keys.items()) + 1}"
    return keys


def _fitted_judge_keys(console: Console, judges: list[str], other_columns: list[list[str]]) -> dict[str, str]:
    """Short judge names stay whole unless the table would then be wider than the terminal: all become J1, J2, ..."""
    keys = _judge_keys(judges)
    widths = [max(map(len, cells), default=0) for cells in other_columns]
    needed = max([len("judge"), *map(len, keys.values())]) + sum(widths) + 2 * len(widths)
    return keys if needed <= console.width else _judge_keys(judges, shown_whole=0)


def _pair(metrics: tuple, field: str) -> str:
    return "/".join(str(getattr(m, field)) if m else "-" for m in metrics)


def _names_table(title: str, whole: dict[str, list[str]], columns: list[str]) -> Table:
    """A compact table whose `whole` columns (header -> cells) are never cut or wrapped; others may wrap."""
    table = Table(title=Text(title), box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in columns:
        if column in whole:
            width = max([len(column), *map(len, whole[column])])
            table.add_column(column, no_wrap=True, min_width=width, overflow="ignore")
        else:
            table.add_column(column, overflow="fold", min_width=6)
    return table


def _legend(target: Console, keys: dict[str, str]) -> None:
    say(target, ARROW_LEGEND + "; think: the thinking channel; n scored and unsc. unscored items: answer/thinking")
    for judge, key in keys.items():
        if key != judge:
            say(target, f"{key} = {judge}")


def print_summary(console: Console, summary: RunSummary) -> None:
    quoted_any = any(sum(_quoted(summary, judge)) for judge in summary.quoted_verdicts)
    from thinksafe.report.outputs import suite_rows

    rows = [row for row in suite_rows(summary, None) if row.group == "all"]  # techniques: print_attack_section
    metric_cells = [f"{row.metric} {ARROWS[row.higher_is_better]}" for row in rows]
    values = [[_fmt(m.value, m.ci_low, m.ci_high) if m else "absent" for m in (row.answer, row.reasoning)] for row in rows]
    counts = [[_pair((row.answer, row.reasoning), "n"), _pair((row.answer, row.reasoning), "unscored")] for row in rows]
    keys = _fitted_judge_keys(console, [row.judge for row in rows], [metric_cells, *zip(*values), *zip(*counts), ["unsc."]])
    judge_cells = [keys[row.judge] for row in rows]
    columns = ["judge", "metric", "answer", "think", "n", "unsc."] + (["quoted"] if quoted_any else [])
    whole = {"judge": judge_cells, "metric": metric_cells, "n": [c[0] for c in counts], "unsc.": [c[1] for c in counts]}
    table = _names_table(f"{summary.benchmark} - {summary.model}", whole, columns)
    for row, judge_cell, metric_cell in zip(rows, judge_cells, metric_cells):
        pair = (row.answer, row.reasoning)
        cells = [_fmt(m.value, m.ci_low, m.ci_high) if m else "absent" for m in pair]
        extra = ["/".join(map(str, _quoted(summary, row.judge)))] if quoted_any else []
        table.add_row(*_row(judge_cell, metric_cell, *cells, _pair(pair, "n"), _pair(pair, "unscored"), *extra))
    console.print(table)
    _legend(console, keys)
    say(console,
        f"items {summary.n_samples}, generations {summary.n}, errors {summary.errors}, "
        f"truncated thinking {summary.truncated}, thinking present {summary.reasoning_present}")
    for judge in summary.quoted_verdicts:
        answer, thinking = _quoted(summary, judge)
        if answer or thinking:
            say(console, f"quoted verdicts: {judge}: {answer} answers and {thinking} thinking texts unscored "
                         "because the judged text held verdict-like lines")
    for note in summary.notes:
        say(console, f"note: {note}")


def print_suite(console: Console, suite: SuiteSummary) -> None:
    techniques = [row for row in suite.rows if row.group != "all"]
    suite = suite.model_copy(update={"rows": [row for row in suite.rows if row.group == "all"]})
    metric_cells = [f"{row.metric} {ARROWS[row.higher_is_better]}" for row in suite.rows]
    values = [[_fmt(m.value, m.ci_low, m.ci_high) if m else "absent" for m in (r.answer, r.reasoning)] for r in suite.rows]
    counts = [[_pair((r.answer, r.reasoning), "n"), _pair((r.answer, r.reasoning), "unscored")] for r in suite.rows]
    benchmarks = [row.benchmark for row in suite.rows]
    keys = _fitted_judge_keys(console, [row.judge for row in suite.rows],
                              [benchmarks, metric_cells, *zip(*values), *zip(*counts), ["unsc."]])
    whole = {
        "benchmark": [row.benchmark for row in suite.rows],
        "judge": [keys[row.judge] for row in suite.rows],
        "metric": metric_cells,
        "n": [c[0] for c in counts],
        "unsc.": [c[1] for c in counts],
    }
    columns = ["benchmark", "judge", "metric", "answer", "think", "n", "unsc."]
    table = _names_table(f"{suite.suite} - {suite.model}", whole, columns)
    for i, row in enumerate(suite.rows):
        pair = (row.answer, row.reasoning)
        cells = [_fmt(m.value, m.ci_low, m.ci_high) if m else "absent" for m in pair]
        table.add_row(*_row(whole["benchmark"][i], whole["judge"][i], whole["metric"][i], *cells,
                            _pair(pair, "n"), _pair(pair, "unscored")))
    console.print(table)
    _legend(console, keys)
    for member in suite.members:
        counts = suite.counts.get(member)
        if counts:
            say(console, f"{member}: items {counts.get('n_samples', 0)}, generations {counts.get('n', 0)}, "
                         f"errors {counts.get('errors', 0)}, truncated thinking {counts.get('truncated', 0)}")
        for note in suite.notes.get(member, []):
            say(console, f"note: {member}: {note}")
    if suite.errors:
        say(console, f"errors {suite.errors}")
    if techniques:
        _print_suite_techniques(console, suite, techniques, keys)


def _print_suite_techniques(console: Console, suite: SuiteSummary, rows: list, keys: dict[str, str]) -> None:
    """Each member's headline metric per technique, answer and thinking side by side."""
    for judge in {row.judge for row in rows} - set(keys):
        keys[judge] = f"J{len(keys) + 1}"
    whole = {
        "benchmark": [row.benchmark for row in rows],
        "technique": [row.group.removeprefix("attack:") for row in rows],
        "judge": [keys[row.judge] for row in rows],
        "metric": [f"{row.metric} {ARROWS[row.higher_is_better]}" for row in rows],
        "n": [_pair((row.answer, row.reasoning), "n") for row in rows],
    }
    columns = ["benchmark", "technique", "judge", "metric", "answer", "think", "n"]
    table = _names_table(f"{suite.suite} - per technique", whole, columns)
    for i, row in enumerate(rows):
        cells = [_fmt(m.value, m.ci_low, m.ci_high) if m else "absent" for m in (row.answer, row.reasoning)]
        table.add_row(*_row(*(whole[c][i] for c in ("benchmark", "technique", "judge", "metric")), *cells, whole["n"][i]))
    console.print(table)
    for judge, key in keys.items():
        if key != judge and judge in {row.judge for row in rows}:
            say(console, f"{key} = {judge}")


def print_attack_section(console: Console, summary: RunSummary) -> None:
    """The technique x channel table, when the run had attacks."""
    if summary.attacks and summary.attacks != ["none"]:
        from thinksafe.report.attack_table import print_attack_table

        print_attack_table(console, summary)
