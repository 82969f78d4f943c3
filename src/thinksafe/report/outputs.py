"""What a run writes: results.jsonl and summary.json (atomically), and the suite's headline rows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from thinksafe.lean import restored, slices
from thinksafe.schema import RunSummary, SampleResult, SuiteRow
from thinksafe.store import Store


def result_record(result: SampleResult) -> dict:
    c = result.completion
    return {
        "id": result.sample.id,
        "sample_index": result.sample_index,
        "category": result.sample.category,
        "attack": result.sample.attack,
        "prompt": result.sample.prompt,
        "reasoning": c.reasoning,
        "answer": c.answer,
        "finish_reason": c.finish_reason,
        "truncated": c.reasoning_truncated,
        "error": c.error,
        "judgements": {
            judge: {ch: j.model_dump(exclude={"judge", "channel"}) for ch, j in by_channel.items()}
            for judge, by_channel in result.judgements.items()
        },
    }


def write_outputs(out: Path, summary: RunSummary, results: list[SampleResult], store: Store | None = None) -> None:
    """results.jsonl then summary.json, each written whole under a temporary name and renamed,
    so a kill leaves either the previous run's pair or a complete new one, never a cut file.
    Lean results have their texts read back from `store` a slice at a time."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / "results.jsonl") as handle:
        for part in slices(results):
            with restored(part, store):
                for result in part:
                    handle.write(jsonl_line(result_record(result)))
    with atomic_writer(out / "summary.json") as handle:
        handle.write(summary.model_dump_json(indent=2))


def jsonl_line(record: dict) -> str:
    """One JSON line, readable (UTF-8, not \\u-escaped), with U+2028/U+2029 escaped: readers that split
    on every Unicode line break (str.splitlines) would otherwise cut a record in two."""
    text = json.dumps(record, ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


@contextmanager
def atomic_writer(target: Path) -> Iterator[TextIO]:
    """A text handle on a temporary file beside `target`, renamed over it only once fully written."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def suite_rows(summary: RunSummary, headline: str | tuple[str, ...] | None) -> list[SuiteRow]:
    """Headline metrics per judge, answer and thinking side by side (None means all): group 'all',
    and each technique's `attack:<label>` group when the run had attacks."""
    wanted = (headline,) if isinstance(headline, str) else headline
    rows: dict[tuple[str, str, str], SuiteRow] = {}
    for metric in summary.metrics:
        if not (metric.group == "all" or metric.group.startswith("attack:")) or (wanted is not None and metric.name not in wanted):
            continue
        row = rows.setdefault(
            (metric.judge, metric.name, metric.group),
            SuiteRow(benchmark=summary.benchmark, judge=metric.judge, metric=metric.name, group=metric.group,
                     higher_is_better=metric.higher_is_better),
        )
        setattr(row, metric.channel, metric)
    return list(rows.values())
