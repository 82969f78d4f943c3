"""Report sections people read: judge agreement per benchmark and channel, and safety vs reasoning
across models (hand-built run folders and one real two-judge eval against a loopback server)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from test_report import HOSTILE, ITEMS_RE, Tags
from thinksafe.analysis.judge_agreement import analyse, analyse_records, cohen_kappa, kappa_from_counts
from thinksafe.report.outputs import result_record
from thinksafe.schema import (
    Completion, GenerationParams, Judgement, Message, Metric, RunSummary, Sample, SampleResult, SuiteRow, SuiteSummary,
)

HOSTILE_JUDGE = "judge<b>B</b>"


def _cli(*args: str) -> str:
    from thinksafe.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _table(text: str, table_id: str) -> list[list[str]]:
    """The body rows of table `table_id` as lists of cell texts (tags removed, entities kept)."""
    body = text.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


# ------------------------------------------------------------------------------------------- agreement


def test_kappa_from_counts_matches_cohen_kappa() -> None:
    for a, b, c, d in [(3, 4, 1, 2), (5, 0, 0, 0), (0, 0, 3, 0), (0, 6, 0, 0), (2, 2, 2, 2), (0, 0, 0, 0)]:
        first = [True] * a + [False] * b + [True] * c + [False] * d
        second = [True] * a + [False] * b + [False] * c + [True] * d
        assert kappa_from_counts(a, b, c, d) == pytest.approx(cohen_kappa(first, second)) if first else \
            kappa_from_counts(a, b, c, d) is None


def _two_judge_results() -> list[SampleResult]:
    # (A, B) answer readings: True unsafe, False safe, None read neither way, "x" unscored
    readings = [(True, True), (True, False), (False, False), (False, False), (True, True), ("x", True), (None, False),
                (False, True)]
    out = []
    for i, (a, b) in enumerate(readings):
        judgements: dict[str, dict[str, Judgement]] = {}
        for name, value in (("rules", a), (HOSTILE_JUDGE, b)):
            judgements[name] = {"answer": (Judgement(judge=name, channel="answer", unscored_reason="no verdict")
                                           if value == "x" else
                                           Judgement(judge=name, channel="answer", label="l", unsafe=value))}
        sample = Sample(id=f"q{i}", benchmark="toy", messages=[Message(role="user", content=f"p{i}")], category=["c"])
        out.append(SampleResult(sample=sample, generation_key=f"k{i}", completion=Completion(answer="a"),
                                judgements=judgements))
    return out


def _write_run(path: Path, results: list[SampleResult], judges: list[str], extra: dict | None, model: str) -> Path:
    metrics = [Metric(name="unsafe_rate", channel="answer", judge=j, value=0.5, ci_low=0.2, ci_high=0.8, n=6,
                      higher_is_better=False) for j in judges]
    summary = RunSummary(benchmark="toy", model=model, judges=judges, params=GenerationParams(), n=len(results),
                         n_samples=len(results), metrics=metrics, extra=extra or {})
    path.mkdir(parents=True, exist_ok=True)
    with (path / "results.jsonl").open("w", encoding="utf-8") as handle:
        for result in results:
            handle.write(json.dumps(result_record(result), ensure_ascii=False) + "\n")
    (path / "summary.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    return path


def test_streaming_agreement_equals_the_analysis(tmp_path: Path) -> None:
    results = _two_judge_results()
    judges = ["rules", HOSTILE_JUDGE]
    run = _write_run(tmp_path / "run", results, judges, None, "m")
    records = (json.loads(line) for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines())
    assert analyse_records(records, judges) == analyse(results, judges)
    assert analyse_records([], ["one"]) is None


def test_agreement_section_is_rendered_escaped_and_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A summary without extra["judge_agreement"] (written before the analysis) gets it from one streaming
    pass; the report never reads a run's records into a list (Bench.records)."""
    from thinksafe.report.runs import Bench

    results = _two_judge_results()
    judges = ["rules", HOSTILE_JUDGE]
    old = _write_run(tmp_path / "old", results, judges, None, f"old {HOSTILE}")
    new = _write_run(tmp_path / "new", results, judges, {"judge_agreement": analyse(results, judges)}, "new")
    monkeypatch.setattr(Bench, "records", property(lambda self: pytest.fail("the report loaded every record")))
    out = tmp_path / "r.html"
    _cli("report", str(old), str(new), "--out", str(out))
    text = out.read_text(encoding="utf-8")
    assert 'id="agreement-b0"' in text
    rows = _table(text, "agreement-table-b0")
    assert len(rows) == 2  # answer only: neither judge read a thinking channel
    expected = [p for p in analyse(results, judges)["pairs"] if p["channel"] == "answer"][0]
    # n 6 (both read), agree 4 -> 66.7%; both unsafe 2, both safe 2, only A 1, only B 1, left out 2
    assert expected["n"] == 6 and expected["left_out"] == 2
    for row in rows:
        assert row[1:4] == ["rules", "judge&lt;b&gt;B&lt;/b&gt;", "answer"]
        assert row[4:] == ["6", "66.7%", f"{expected['kappa']:.3f}", "2", "2", "1", "1", "2"]
    assert rows[0][0] == f"old {HOSTILE}".replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&#34;").replace("'", "&#39;")
    outside = text.replace(ITEMS_RE.search(text).group(0), "")
    assert "<b>B</b>" not in outside and "<script>document" not in outside


def test_single_judge_run_has_no_agreement_section(tmp_path: Path) -> None:
    results = _two_judge_results()
    run = _write_run(tmp_path / "one", results, ["rules"], None, "m")
    out = tmp_path / "r.html"
    _cli("report", str(run), "--out", str(out))
    assert 'id="agreement-b0"' not in out.read_text(encoding="utf-8")


def test_two_judge_eval_shows_its_agreement(tmp_path: Path) -> None:
    """`thinksafe eval --judge refusal-rules --judge xstest-3way=...` on the built-in demo benchmark: the
    agreement the run's summary holds is the one its report shows."""
    from fake_openai import FakeOpenAIServer, Reply

    def script(body: dict) -> Reply:
        text = body["messages"][-1]["content"]
        if "<response-" in text:  # the judge: full refusal when the reply apologises
            return Reply("VERDICT: " + ("FULL_REFUSAL" if "Sorry" in text else "FULL_COMPLIANCE"))
        if "bomb" in text or "毒" in text:
            return Reply("<think>this is dangerous</think>Sorry, I can't help with that.")
        return Reply("<think>fine</think>Sure, here is how you do it.")

    out = tmp_path / "run"
    with FakeOpenAIServer(script) as server:
        _cli("eval", "--model", f"openai:target@{server.base_url}", "--benchmark", "demo", "--judge", "refusal-rules",
             "--judge", f"xstest-3way=openai:judge@{server.base_url}", "--out", str(out), "--no-progress")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    pairs = summary["extra"]["judge_agreement"]["pairs"]
    answer = next(p for p in pairs if p["channel"] == "answer")
    assert answer["n"] == 4 and answer["left_out"] == 4  # the 4 unsafe prompts; safe ones have no unsafe side
    assert answer["agreement"] == 1.0 and answer["both_unsafe"] == 2 and answer["both_safe"] == 2
    report = tmp_path / "r.html"
    _cli("report", str(out), "--out", str(report))
    rows = _table(report.read_text(encoding="utf-8"), "agreement-table-b0")
    by_channel = {row[3]: row for row in rows}
    assert by_channel["answer"][4:] == ["4", "100.0%", "1.000", "2", "2", "0", "0", "4"]
    assert by_channel["answer"][1] == "refusal-rules" and by_channel["answer"][2].startswith("xstest-3way=")
    assert set(by_channel) == {"answer", "thinking"}


# --------------------------------------------------------------------------------- safety vs reasoning


def _metric(name: str, value: float, judge: str, higher: bool, width: float = 0.05, channel: str = "answer") -> Metric:
    return Metric(name=name, channel=channel, judge=judge, value=value, ci_low=max(0.0, value - width),
                  ci_high=min(1.0, value + width), n=100, higher_is_better=higher)


def _bench(path: Path, benchmark: str, model: str, metrics: list[Metric], headline: list[str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(benchmark=benchmark, model=model, judges=sorted({m.judge for m in metrics}),
                         params=GenerationParams(), n=100, n_samples=100, metrics=metrics, headline=headline)
    (path / "summary.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    return path


def _safety(unsafe: float, refusal: float) -> list[Metric]:
    return [_metric("unsafe_compliance_rate", unsafe, "refusal-rules", False),
            _metric("over_refusal_rate", refusal, "refusal-rules", False),
            _metric("unsafe_compliance_rate", 0.9, "refusal-rules", False, channel="reasoning"),
            Metric(name="unsafe_compliance_rate", channel="answer", judge="refusal-rules", value=0.5, n=10,
                   group="contrast_homonyms", higher_is_better=False)]


def _math(accuracy: float) -> list[Metric]:
    return [_metric("accuracy", accuracy, "math-answer", True), _metric("accuracy", 0.1, "math-answer", True,
                                                                         channel="reasoning")]


def _suite(path: Path, model: str, unsafe: float, refusal: float, accuracy: float, math500: float | None = None) -> Path:
    _bench(path / "xstest", "xstest", model, _safety(unsafe, refusal), ["over_refusal_rate", "unsafe_compliance_rate"])
    _bench(path / "gsm8k", "gsm8k", model, _math(accuracy), ["accuracy"])
    members = ["xstest", "gsm8k"]
    rows = [SuiteRow(benchmark="xstest", judge="refusal-rules", metric="unsafe_compliance_rate", higher_is_better=False),
            SuiteRow(benchmark="gsm8k", judge="math-answer", metric="accuracy", higher_is_better=True)]
    if math500 is not None:
        _bench(path / "math500", "math500", model, _math(math500), ["accuracy"])
        members.append("math500")
    suite = SuiteSummary(suite="default", model=model, members=members, rows=rows)
    (path / "summary.json").write_text(suite.model_dump_json(indent=2), encoding="utf-8")
    return path


def _points(svg: str) -> list[tuple[float, float, str]]:
    circles = re.findall(r'<circle class="point" cx="([\d.]+)" cy="([\d.]+)"[^>]*><title>([^<]*)</title>', svg)
    return [(float(x), float(y), title) for x, y, title in circles]


def test_safety_vs_reasoning_scatter_over_suites_and_compare_folders(tmp_path: Path) -> None:
    """Two suites and `enhance compare`'s after/ folder (benchmark folders, no summary of its own): one
    plot per (safety headline, reasoning accuracy) pair, one point per model, whiskers on both axes."""
    a = _suite(tmp_path / "a", f"model-a {HOSTILE}", unsafe=0.40, refusal=0.10, accuracy=0.30)
    b = _suite(tmp_path / "b", "model-b", unsafe=0.20, refusal=0.30, accuracy=0.60, math500=0.50)
    after = tmp_path / "cmp" / "after"
    _bench(after / "xstest", "xstest", "model-c", _safety(0.05, 0.50), ["over_refusal_rate", "unsafe_compliance_rate"])
    _bench(after / "gsm8k", "gsm8k", "model-c", _math(0.80), ["accuracy"])
    _bench(after / "math500", "math500", "model-c", _math(0.70), ["accuracy"])
    (tmp_path / "cmp" / "compare.json").write_text("{}", encoding="utf-8")
    out = tmp_path / "r.html"
    _cli("report", str(a), str(b), str(after), "--out", str(out))
    text = out.read_text(encoding="utf-8")
    section = text.split('<section id="safety-vs-reasoning">', 1)[1].split("</section>", 1)[0]
    assert 'href="#safety-vs-reasoning"' in text
    figures = re.findall(r'<figure id="scatter-(s\d+)">(.*?)</figure>', section, re.S)
    # the suites' rows name only unsafe_compliance_rate for xstest, so over_refusal_rate (the compare
    # folder's alone) has one point and no plot; math500 is in b and the compare folder only
    titles = [re.search(r"<title>([^<]*)</title>", body).group(1) for _, body in figures]
    assert titles == ["xstest unsafe_compliance_rate vs gsm8k accuracy", "xstest unsafe_compliance_rate vs math500 accuracy"]
    svg, caption = figures[0][1].split("<figcaption", 1)
    points = _points(svg)
    assert len(points) == 3
    # x grows with accuracy (a 0.3 < b 0.6 < c 0.8); y (SVG, downward) grows as the unsafe rate falls
    assert points[0][0] < points[1][0] < points[2][0] and points[0][1] < points[1][1] < points[2][1]
    assert "model-a &lt;script&gt;" in svg and HOSTILE not in section  # labels escaped
    whiskers = re.findall(r'class="ci" d="([^"]*)"', svg)
    assert len(whiskers) == 3 and all(path.count("M") == 6 for path in whiskers)  # x and y whiskers
    assert "lower is safer" in caption and "higher is better reasoning" in caption and "bottom right" in caption
    assert "answer channel" in caption and "(↓ safer)" in svg
    assert [t.split(":")[0] for _, _, t in _points(figures[1][1])] == ["model-b", "model-c"]
    table = _table(section, "scatter-points")
    assert len(table) == 5 and table[0][2].startswith("0.300 [0.250, 0.350]") and table[0][4].startswith("0.400")


def test_higher_is_safer_and_too_few_points(tmp_path: Path) -> None:
    from thinksafe.report.html import safety_reasoning_plots
    from thinksafe.report.runs import load_runs

    for name, refusal, accuracy in (("a", 0.9, 0.2), ("b", 0.6, 0.7)):
        _bench(tmp_path / name / "strongreject", "strongreject", name, [_metric("refusal_rate", refusal, "j", True)], [])
        _bench(tmp_path / name / "math500", "math500", name, _math(accuracy), [])
    _bench(tmp_path / "c" / "strongreject", "strongreject", "c", [_metric("refusal_rate", 0.5, "j", True)], [])
    runs = load_runs([tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    assert [r.label for r in runs] == ["a", "b", "c"]
    (plot,) = safety_reasoning_plots(runs)
    assert [label for label, _, _ in plot.points] == ["a", "b"]  # c has no reasoning benchmark
    assert "higher is safer" in plot.caption and "top right" in plot.caption
    assert safety_reasoning_plots(runs[:1]) == [] and safety_reasoning_plots([runs[0], runs[2]]) == []
    out = tmp_path / "one.html"
    _cli("report", str(tmp_path / "a"), "--out", str(out))
    assert 'id="safety-vs-reasoning"' not in out.read_text(encoding="utf-8")


def test_compare_root_error_names_the_side_folders(tmp_path: Path) -> None:
    from thinksafe.cli import app

    root = tmp_path / "cmp"
    _bench(root / "before" / "gsm8k", "gsm8k", "m", _math(0.5), [])
    (root / "compare.json").write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(app, ["report", str(root), "--out", str(tmp_path / "x.html")])
    assert result.exit_code == 2 and "before/ and after/" in " ".join(result.output.split())


def test_scatter_svg_is_inert(tmp_path: Path) -> None:
    a = _suite(tmp_path / "a", HOSTILE, unsafe=0.4, refusal=0.1, accuracy=0.3)
    b = _suite(tmp_path / "b", "b", unsafe=0.2, refusal=0.3, accuracy=0.6)
    out = tmp_path / "r.html"
    _cli("report", str(a), str(b), "--out", str(out))
    text = out.read_text(encoding="utf-8")
    parser = Tags()
    parser.feed(text)
    parser.close()
    assert [tag for tag, _ in parser.tags].count("script") == 2
    for _, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), attrs
