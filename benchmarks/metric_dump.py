"""A pytest plugin that records every metric the suite computes, to check a refactor changes none.

    THINKSAFE_METRIC_DUMP=before.jsonl python -m pytest -p benchmarks.metric_dump -q
    ... change the code ...
    THINKSAFE_METRIC_DUMP=after.jsonl python -m pytest -p benchmarks.metric_dump -q
    python benchmarks/metric_dump.py before.jsonl after.jsonl

Each line is one call of a benchmark's metric computation (summaries and `enhance compare`),
keyed by the test that made it and its order within that test.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections import Counter, defaultdict

import pytest

KEEP = ("name", "channel", "judge", "group", "value", "ci_low", "ci_high", "n", "unscored", "higher_is_better", "range",
        "approximate")


VARYING = [(re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"), (re.compile(r"/tmp/[^\s,@#=]*"), "TMP")]


def _rounded(value):
    """Floats to 9 places; loopback ports and temporary paths (they differ run to run) replaced."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, str):
        for pattern, replacement in VARYING:
            value = pattern.sub(replacement, value)
    return value


def _record(path: str, kind: str, benchmark: str, metrics) -> None:
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" (", 1)[0]
    rows = sorted(json.dumps({k: _rounded(getattr(m, k)) for k in KEEP}, sort_keys=True, default=list) for m in metrics)
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"test": test, "kind": kind, "benchmark": benchmark, "metrics": rows}) + "\n")


@pytest.fixture(autouse=True)
def _dump_metrics(monkeypatch):
    path = os.environ.get("THINKSAFE_METRIC_DUMP")
    if not path:
        yield
        return
    importlib.import_module("thinksafe.pipeline")  # it imports summarise_run by name
    from thinksafe.report import summary

    original = summary.summarise_run

    def recording(bench, *args, **kwargs):
        result = original(bench, *args, **kwargs)
        _record(path, "summary", bench.name, result.metrics)
        return result

    monkeypatch.setattr(summary, "summarise_run", recording)
    for module in tuple(name for name in sys.modules if name.startswith("thinksafe.")):
        found = sys.modules.get(module)
        if found is not None and getattr(found, "summarise_run", None) is original:
            monkeypatch.setattr(found, "summarise_run", recording)
    yield


def _load(path: str) -> dict[tuple[str, str, str], Counter]:
    calls: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            calls[(row["test"], row["kind"], row["benchmark"])][tuple(row["metrics"])] += 1
    return calls


def compare(before_path: str, after_path: str) -> int:
    before, after = _load(before_path), _load(after_path)
    changed = 0
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changed += 1
            old = {m for call in before.get(key, {}) for m in call}
            new = {m for call in after.get(key, {}) for m in call}
            print(f"== {key}: {sum(before.get(key, Counter()).values())} call(s) before, {sum(after.get(key, Counter()).values())} after")
            for m in sorted(old - new)[:6]:
                print("  - " + m)
            for m in sorted(new - old)[:6]:
                print("  + " + m)
    total = len(set(before) | set(after))
    print(f"{total} (test, benchmark) keys; {changed} differ; {sum(sum(c.values()) for c in before.values())} calls before, "
          f"{sum(sum(c.values()) for c in after.values())} after")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(compare(sys.argv[1], sys.argv[2]))
