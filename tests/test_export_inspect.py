"""`thinksafe export --format inspect`: an Inspect AI eval log (JSON format) that inspect_ai reads back."""

from __future__ import annotations

import json
import os
import sys
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thinksafe.report.outputs import result_record, write_outputs
from thinksafe.schema import (
    Completion,
    GenerationParams,
    Judgement,
    Message,
    Metric,
    RunSummary,
    Sample,
    SampleResult,
    SuiteRow,
    SuiteSummary,
)

JUDGE = "refusal-rules"


def _results(n: int = 3, gens: int = 2) -> list[SampleResult]:
    out = []
    for i in range(n):
        for k in range(gens):
            sample = Sample(id=f"s{i}", benchmark="toy", category=["harm", f"c{i % 2}"],
                            messages=[Message(role="user", content=f'prompt {i} "quoted" <b>&</b>\n')])
            reasoning = None if i == 2 else f"thinking {i}/{k} \u2028 </think>"
            finish = "length" if (i, k) == (1, 1) else "stop"
            completion = Completion(text="", reasoning=reasoning, answer=f"answer {i}/{k}", finish_reason=finish,
                                    error="boom" if (i, k) == (2, 1) else None)
            judgements = {JUDGE: {
                "answer": Judgement(judge=JUDGE, channel="answer", label="refusal" if k == 0 else "compliance",
                                    unsafe=k != 0, raw="rule: sorry", details={"rule": "sorry"}),
                "reasoning": (Judgement(judge=JUDGE, channel="reasoning", unscored_reason="no reasoning")
                              if reasoning is None else
                              Judgement(judge=JUDGE, channel="reasoning", label="compliance", unsafe=True, raw="r")),
            }}
            out.append(SampleResult(sample=sample, sample_index=k, generation_key=f"g{i}{k}", completion=completion,
                                    judgements=judgements))
    return out


def make_run(path: Path, model: str = "org/r1-distill", benchmark: str = "toy") -> Path:
    results = _results()
    metrics = [Metric(name="refusal-rate", channel=ch, judge=JUDGE, value=0.5, ci_low=0.2, ci_high=0.8, n=6,
                      higher_is_better=True) for ch in ("answer", "reasoning")]
    metrics.append(Metric(name="refusal-rate", channel="answer", judge=JUDGE, value=0.4, group="c0",
                          higher_is_better=True))
    summary = RunSummary(benchmark=benchmark, model=model, judges=[JUDGE], params=GenerationParams(n=2),
                         n=len(results), n_samples=3, metrics=metrics)
    for r in results:
        r.sample.benchmark = benchmark
    write_outputs(path, summary, results)
    return path


def make_suite(path: Path) -> Path:
    path.mkdir(parents=True)
    make_run(path / "toy", benchmark="toy")
    make_run(path / "toy2", benchmark="toy2")
    rows = [SuiteRow(benchmark=b, judge=JUDGE, metric="refusal-rate", higher_is_better=True) for b in ("toy", "toy2")]
    suite = SuiteSummary(suite="toy-suite", model="org/r1-distill", members=["toy", "toy2"], rows=rows)
    (path / "summary.json").write_text(suite.model_dump_json(indent=2), encoding="utf-8")
    return path


def _export(*args: str) -> str:
    from thinksafe.cli import app

    result = CliRunner().invoke(app, ["export", "--format", "inspect", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _check_json(log: dict, task: str = "toy") -> None:
    assert log["version"] == 2 and log["status"] == "success"
    assert {"eval", "plan", "results", "stats", "samples"} <= set(log)
    spec = log["eval"]
    assert spec["task"] == task and spec["model"] == "org/r1-distill"
    assert spec["created"] and spec["dataset"]["samples"] == 3 and spec["config"]["epochs"] == 2
    samples = log["samples"]
    assert len(samples) == 6
    first = samples[0]
    assert (first["id"], first["epoch"]) == ("s0", 1)
    assert first["input"].startswith('prompt 0 "quoted" <b>&</b>')
    user, assistant = first["messages"]
    assert user["role"] == "user" and assistant["role"] == "assistant"
    assert [c["type"] for c in assistant["content"]] == ["reasoning", "text"]
    assert assistant["content"][0]["reasoning"] == "thinking 0/0 \u2028 </think>"
    assert first["output"]["choices"][0]["message"] == assistant
    assert first["output"]["choices"][0]["stop_reason"] == "stop"
    assert samples[3]["output"]["choices"][0]["stop_reason"] == "max_tokens"  # s1, second generation: length
    assert first["scores"][f"{JUDGE}/answer"] == {"value": "refusal", "answer": "refusal",
                                                  "explanation": "rule: sorry",
                                                  "metadata": {"rule": "sorry", "unsafe": False,
                                                               "quoted_verdict": False}}
    no_think = samples[4]
    assert [c["type"] for c in no_think["messages"][1]["content"]] == ["text"]
    assert no_think["scores"][f"{JUDGE}/reasoning"]["value"] == "unscored"
    assert no_think["scores"][f"{JUDGE}/reasoning"]["explanation"] == "no reasoning"
    assert samples[5]["error"]["message"] == "boom" and samples[5]["output"]["error"] == "boom"
    scores = {s["name"]: s for s in log["results"]["scores"]}
    assert set(scores) == {f"{JUDGE}/answer", f"{JUDGE}/reasoning"}
    assert scores[f"{JUDGE}/answer"]["metrics"]["refusal-rate"]["value"] == 0.5  # group "all" only
    assert scores[f"{JUDGE}/reasoning"]["unscored_samples"] == 2


def test_export_json_structure(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    out = tmp_path / "log.json"
    output = _export(str(run), "--out", str(out))
    assert f"wrote {out}" in output.replace("\n", "")
    text = out.read_text(encoding="utf-8")
    _check_json(json.loads(text))
    assert result_record(_results()[0])["id"] == "s0"


def test_export_default_name_and_suite(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    _export(str(run))
    (single,) = list((run / "inspect").glob("*.json"))
    assert single.name[:4].isdigit() and "_toy_" in single.name  # Inspect's <created>_<task>_<id>.json
    suite = make_suite(tmp_path / "suite")
    folder = tmp_path / "logs"
    _export(str(suite), "--out", str(folder))
    logs = sorted(folder.glob("*.json"))
    assert len(logs) == 2
    tasks = {}
    for path in logs:
        log = json.loads(path.read_text(encoding="utf-8"))
        tasks[log["eval"]["task"]] = log
        assert log["eval"]["metadata"]["thinksafe"]["suite"] == "toy-suite"
    assert set(tasks) == {"toy", "toy2"}
    _check_json(tasks["toy2"], task="toy2")


def test_export_missing_run_exits_2(tmp_path: Path) -> None:
    from thinksafe.cli import app

    result = CliRunner().invoke(app, ["export", "--format", "inspect", str(tmp_path / "nope")])
    assert result.exit_code == 2


# inspect-ai is not a dependency of thinksafe: CI installs it in a venv of its own and names its
# python here; without one, an inspect_ai importable in this interpreter is used, else the checks skip.
INSPECT_PYTHON = os.environ.get("THINKSAFE_INSPECT_PYTHON")

READ_BACK = r"""
import sys
from inspect_ai import log as log_mod
from inspect_ai.model import ContentReasoning, ContentText

folder, judge = sys.argv[1], sys.argv[2]
listed = log_mod.list_eval_logs(folder)  # the folder listing `inspect view` uses
assert len(listed) == 2, listed
for info in listed:
    path = info.name
    log = log_mod.read_eval_log(path)
    assert log.status == "success" and log.eval.model == "org/r1-distill", (log.status, log.eval.model)
    assert log.eval.task in {"toy", "toy2"}, log.eval.task
    assert log.samples is not None and len(log.samples) == 6
    sample = log.samples[0]
    assert sample.epoch == 1 and sample.id == "s0"
    content = sample.messages[-1].content
    assert isinstance(content[0], ContentReasoning) and content[0].reasoning == "thinking 0/0 \u2028 </think>"
    assert isinstance(content[1], ContentText) and content[1].text == "answer 0/0"
    assert sample.output.completion == "answer 0/0"
    assert set(sample.scores or {}) == {f"{judge}/answer", f"{judge}/reasoning"}
    assert sample.scores[f"{judge}/answer"].value == "refusal"
    metric = {s.name: s for s in log.results.scores}[f"{judge}/answer"].metrics["refusal-rate"]
    assert metric.value == 0.5
    header = log_mod.read_eval_log(path, header_only=True)
    assert header.samples is None and header.eval.task == log.eval.task
print("ok")
"""


def inspect_python() -> str:
    if INSPECT_PYTHON:
        return INSPECT_PYTHON
    pytest.importorskip("inspect_ai.log")
    return sys.executable


def test_inspect_reads_the_log(tmp_path: Path) -> None:
    python = inspect_python()
    suite = make_suite(tmp_path / "suite")
    folder = tmp_path / "logs"
    _export(str(suite), "--out", str(folder))
    done = subprocess.run([python, "-c", READ_BACK, str(folder), JUDGE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_inspect_cli_dumps_the_log(tmp_path: Path) -> None:
    python = inspect_python()
    inspect = shutil.which("inspect", path=str(Path(python).parent)) or shutil.which("inspect")
    if inspect is None:
        pytest.skip("no inspect CLI beside the inspect_ai python")
    run = make_run(tmp_path / "run")
    out = tmp_path / "log.json"
    _export(str(run), "--out", str(out))
    done = subprocess.run([inspect, "log", "dump", str(out)], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    dumped = json.loads(done.stdout)
    assert dumped["eval"]["task"] == "toy" and len(dumped["samples"]) == 6


def _viewer_python() -> str:
    """THINKSAFE_INSPECT_PYTHON (.ci/run sets it); required under CI=true, else the check skips."""
    if INSPECT_PYTHON:
        return INSPECT_PYTHON
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail("CI=true but THINKSAFE_INSPECT_PYTHON is unset: .ci/run installs inspect-ai in a venv and names it")
    pytest.skip("THINKSAFE_INSPECT_PYTHON is unset (python3 -m venv ~/.cache/thinksafe-ci/venv-inspect && "
                "~/.cache/thinksafe-ci/venv-inspect/bin/pip install inspect-ai, then point it at that venv's python)")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 30) -> tuple[int, str, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read()


def _check_served(log: dict) -> None:
    assert log["status"] == "success" and log["eval"]["model"] == "org/r1-distill"
    samples = log["samples"]
    assert [(s["id"], s["epoch"]) for s in samples] == [(f"s{i}", k) for i in range(3) for k in (1, 2)]
    first = samples[0]
    assistant = first["messages"][-1]
    assert [c["type"] for c in assistant["content"]] == ["reasoning", "text"]
    assert assistant["content"][0]["reasoning"] == "thinking 0/0 \u2028 </think>"
    assert assistant["content"][1]["text"] == "answer 0/0"
    score = first["scores"][f"{JUDGE}/answer"]
    assert (score["value"], score["explanation"], score["metadata"]["unsafe"]) == ("refusal", "rule: sorry", False)
    assert samples[4]["scores"][f"{JUDGE}/reasoning"]["value"] == "unscored"
    assert samples[5]["error"]["message"] == "boom"
    scores = {s["name"]: s for s in log["results"]["scores"]}
    assert set(scores) == {f"{JUDGE}/answer", f"{JUDGE}/reasoning"}
    assert scores[f"{JUDGE}/answer"]["metrics"]["refusal-rate"]["value"] == 0.5


def test_inspect_view_lists_and_serves_the_log(tmp_path: Path) -> None:
    """`inspect view` on an exported suite: its API lists both logs (/api/logs, and /api/log-files that
    the viewer's list polls), serves their headers and each whole log with our samples and scores, and
    the viewer's page itself loads."""
    import time
    from urllib.parse import quote

    python = _viewer_python()
    inspect = shutil.which("inspect", path=str(Path(python).parent))
    if inspect is None:
        pytest.fail(f"no `inspect` beside {python}")
    suite = make_suite(tmp_path / "suite")
    folder = tmp_path / "logs"
    _export(str(suite), "--out", str(folder))
    names = sorted(p.name for p in folder.glob("*.json"))
    assert len(names) == 2
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([inspect, "view", "--log-dir", str(folder), "--port", str(port), "--host", "127.0.0.1"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline, listing = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"inspect view exited {server.returncode}: {server.stdout.read().decode(errors='replace')[-2000:]}")
            try:
                status, _, body = _get(f"{base}/api/logs", timeout=5)
            except OSError:
                time.sleep(0.5)
                continue
            assert status == 200, body[:500]
            listing = json.loads(body)
            break
        assert listing is not None, "inspect view did not answer within 120 s"
        files = {Path(entry["name"]).name: entry for entry in listing["files"]}
        assert sorted(files) == names, listing  # Inspect lists only logs named <ISO time>_<task>_<id>.json
        assert {entry["task"] for entry in files.values()} == {"toy", "toy2"}
        status, _, body = _get(f"{base}/api/log-files")
        assert status == 200 and sorted(Path(e["name"]).name for e in json.loads(body)["files"]) == names
        uris = [files[name]["name"] for name in names]
        status, _, body = _get(f"{base}/api/log-headers?" + "&".join(f"file={quote(u, safe='')}" for u in uris))
        assert status == 200, body[:500]
        headers = json.loads(body)
        assert [h["status"] for h in headers] == ["success", "success"]
        assert {h["eval"]["task"] for h in headers} == {"toy", "toy2"} and not any(h.get("samples") for h in headers)
        for uri in uris:
            status, kind, body = _get(f"{base}/api/logs/{quote(uri, safe='')}")
            assert status == 200 and "json" in kind, body[:500]
            log = json.loads(body)
            _check_served(log)  # inspect re-serialises the log (its own defaults added); our content is there
            assert log["eval"]["metadata"]["thinksafe"]["suite"] == "toy-suite"
        status, _, body = _get(f"{base}/api/logs/{quote(str(tmp_path / 'suite' / 'summary.json'), safe='')}")
        assert status in (403, 404)  # outside --log-dir: not served
        status, kind, body = _get(f"{base}/")
        assert status == 200 and "text/html" in kind and b"<html" in body.lower()  # the viewer's page
    finally:
        import signal

        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=15)
        if server.stdout is not None:
            server.stdout.close()
