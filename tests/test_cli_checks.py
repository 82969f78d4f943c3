"""`thinksafe eval` checks its arguments before any model call, never fails silently, prints plain
text, and reports errors on one unwrapped line (exit 2) while real crashes keep their traceback."""

from __future__ import annotations

import inspect
import json
import re
import socket

import pytest
from typer.testing import CliRunner

from fake_openai import FakeOpenAIServer, Reply
from thinksafe.cli import app, check_eval_args
from thinksafe.errors import ArgumentError, OptionError, ThinksafeError
from thinksafe.schema import GenerationParams, RunSummary

runner = CliRunner()
SORRY = "I'm sorry, but I can't help with that."


def refuse(body):
    return Reply(f"<think>This is harmful.</think>\n\n{SORRY}")


def eval_cli(*args: str):
    return runner.invoke(app, ["eval", *args, "--no-progress"])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# ---------------------------------------------------------------- A: failures are never silent


def test_failed_requests_exit_1_and_list_the_errors(tmp_path):
    spec = f"openai:m@http://127.0.0.1:{closed_port()}/v1"
    args = ["--model", spec, "--benchmark", "xstest", "--limit", "3", "--max-retries", "0", "--out", str(tmp_path / "o")]
    result = eval_cli(*args)
    assert result.exit_code == 1, result.output
    assert "error: 3 of 3 generations failed" in result.stderr
    assert re.search(r"^  3 x \S", result.stderr, re.M), result.stderr  # the distinct error with its count
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["errors"] == 3  # the run is still written

    allowed = eval_cli(*args, "--allow-errors")
    assert allowed.exit_code == 0, allowed.output
    assert "error: 3 of 3 generations failed" in allowed.stderr


def test_eval_help_documents_the_exit_status():
    result = runner.invoke(app, ["eval", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Exit status 1" in text and "--allow-errors" in text and "--timeout" in text


def test_a_clean_run_exits_0(tmp_path):
    with FakeOpenAIServer(refuse) as server:
        result = eval_cli("--model", f"openai:m@{server.base_url}", "--benchmark", "xstest", "--limit", "4",
                          "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert "error" not in result.stderr


def test_quoted_verdicts_are_shown_beside_the_unscored_counts(monkeypatch, tmp_path):
    import thinksafe.pipeline as pipeline

    summary = RunSummary(benchmark="xstest", model="openai:m", judges=["refusal-llm=openai:j"], params=GenerationParams(),
                         n=4, n_samples=4, quoted_verdicts={"refusal-llm=openai:j": {"answer": 3}})

    async def fake(*args, **kwargs):
        return summary, []

    monkeypatch.setattr(pipeline, "evaluate_async", fake)
    result = eval_cli("--model", "openai:m@http://127.0.0.1:9/v1", "--benchmark", "xstest", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert "quoted verdicts: refusal-llm=openai:j: 3 answers and 0 thinking texts unscored" in result.stdout


# ---------------------------------------------------------------- B: arguments checked before any model call

BAD_ARGS = [
    (["--judge", "nonexistent"], "nonexistent"),
    (["--judge", "refusal-llm"], "--judge-model"),
    (["--concurrency", "0"], "--concurrency"),
    (["--samples", "0"], "--samples"),
    (["--max-retries", "-1"], "--max-retries"),
    (["--max-new-tokens", "0"], "--max-new-tokens"),
    (["--limit", "0"], "--limit"),
    (["--limit", "-3"], "--limit"),
    (["--timeout", "0"], "--timeout"),
    (["--option", "garbage"], "KEY=VALUE"),
    (["--option", "no_such_key=1"], "no_such_key"),
    (["--judge", "refusal-rules", "--judge-model", "nocolon"], "--judge-model"),
]


@pytest.mark.parametrize("extra, needle", BAD_ARGS, ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_arguments_fail_before_any_model_call(tmp_path, extra, needle):
    out = tmp_path / "out"
    with FakeOpenAIServer(refuse) as server:
        result = eval_cli("--model", f"openai:m@{server.base_url}", "--benchmark", "xstest", "--out", str(out), *extra)
        calls = sum(server.attempts.values())
    assert result.exit_code == 2, result.output
    assert needle in one_error_line(result)
    assert calls == 0
    assert not out.exists() and not (tmp_path / "store.sqlite").exists()


@pytest.mark.parametrize("model, needle", [
    ("nocolon", "not a model spec"),
    ("foo:bar", "unknown model backend"),
    ("openai:", "not a model spec"),
    ("openai:m@ftp://host/v1", "http://"),
])
def test_malformed_model_specs(tmp_path, model, needle):
    result = eval_cli("--model", model, "--benchmark", "xstest", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and needle in one_error_line(result)
    assert not (tmp_path / "out").exists()


def test_unknown_benchmark_and_suite_options(tmp_path):
    result = eval_cli("--model", "openai:m@http://127.0.0.1:9/v1", "--benchmark", "nonexistent", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "unknown benchmark 'nonexistent'" in one_error_line(result)
    suite = eval_cli("--model", "openai:m@http://127.0.0.1:9/v1", "--benchmark", "r1-risk", "--judge-model",
                     "openai:j@http://127.0.0.1:9/v1", "--option", "bogus=1", "--out", str(tmp_path / "s"))
    assert suite.exit_code == 2 and "bogus" in one_error_line(suite)
    assert not (tmp_path / "o").exists() and not (tmp_path / "s").exists()


def test_a_suite_members_model_judge_needs_a_judge_model(tmp_path):
    # r1-risk's members judge with LLM judges by default: found before its first member generates anything
    result = eval_cli("--model", "openai:m@http://127.0.0.1:9/v1", "--benchmark", "r1-risk", "--out", str(tmp_path / "s"))
    line = one_error_line(result)
    assert result.exit_code == 2 and "needs a model" in line and "--judge-model" in line


def test_a_missing_local_model_path_is_not_called_a_hub_id(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    result = eval_cli("--model", f"hf:{missing}", "--benchmark", "xstest", "--out", str(tmp_path / "o"))
    line = one_error_line(result)
    assert result.exit_code == 2 and "does not exist" in line and str(missing) in line
    assert "huggingface-cli download" not in result.output
    judge = eval_cli("--model", "openai:m@http://127.0.0.1:9/v1", "--benchmark", "xstest",
                     "--judge", f"harmbench-cls=hf:{missing}", "--out", str(tmp_path / "o"))
    assert judge.exit_code == 2 and "does not exist" in one_error_line(judge)


def test_hf_loader_says_a_local_path_does_not_exist(tmp_path):
    from thinksafe.models.base import ModelLoadError
    from thinksafe.models.hf_loading import load_hf, looks_like_path

    assert looks_like_path("./x") and looks_like_path("/x") and looks_like_path("~/x") and looks_like_path("a/b/c")
    assert not looks_like_path("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") and not looks_like_path("gpt2")
    with pytest.raises(ModelLoadError, match="does not exist") as caught:
        load_hf(str(tmp_path / "nowhere"))
    assert "download" not in str(caught.value)


def test_check_eval_args_raises_a_project_error():
    with pytest.raises(ArgumentError) as caught:
        check_eval_args(model="openai:m", benchmark="xstest", concurrency=0)
    assert isinstance(caught.value, ThinksafeError)
    check_eval_args(model="openai:m", benchmark="xstest")  # the defaults pass
    check_eval_args(model="openai:m", benchmark="cse-phishing", judges=["refusal-rules"],
                    benchmark_options={"turns": "2", "victim_model": "openai:v@http://127.0.0.1:9/v1"})


# ---------------------------------------------------------------- C: declared benchmark options


def test_get_benchmark_checks_declared_options():
    from thinksafe.benchmarks.base import get_benchmark

    with pytest.raises(ValueError, match=r"'turnz'.*platform.*turns") as caught:
        get_benchmark("cse-phishing", turnz="2")
    assert isinstance(caught.value, OptionError)
    with pytest.raises(ValueError, match="int"):
        get_benchmark("cse-phishing", turns="two")
    assert get_benchmark("cse-phishing", turns="2", judge_model="openai:j").turns == 2
    assert get_benchmark("harmbench", split="standard").options["split"] == "standard"


def keys_read(cls) -> set[str]:
    found: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("thinksafe.benchmarks.") and klass.__module__ != "thinksafe.benchmarks.base":
            source = inspect.getsource(klass)
            found |= set(re.findall(r"options\.get\(\s*[\"'](\w+)[\"']", source))
            found |= set(re.findall(r"options\[\s*[\"'](\w+)[\"']\s*\]", source))
            found |= set(re.findall(r"[\"'](\w+)[\"'] in self\.options", source))
    return found


def test_every_option_a_benchmark_reads_is_declared():
    from thinksafe.benchmarks.base import benchmark_names

    for name, cls in benchmark_names().items():
        declared = {o.name for o in cls.declared_options} | {"judge_model"}
        assert keys_read(cls) <= declared, (name, keys_read(cls) - declared)
    assert {o.name for o in benchmark_names()["cse-phishing"].declared_options} == {"turns", "platform", "sample_size", "victim_model"}


def test_benchmarks_name_describes_one_benchmark():
    result = runner.invoke(app, ["benchmarks", "cse-phishing"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "default judges: cse-phishing" in out and "multiturn_phishing_challenges.json" in out
    assert re.search(r"^  turns \(int, default 5\): ", out, re.M) and "sample_size" in out
    unknown = runner.invoke(app, ["benchmarks", "nonexistent"])
    assert unknown.exit_code == 2 and "nonexistent" in one_error_line(unknown)


# ---------------------------------------------------------------- D: timeout and per-role API keys


def test_timeout_and_role_key_envs_reach_the_pipeline(monkeypatch, tmp_path):
    import thinksafe.pipeline as pipeline

    seen = {}

    async def fake(model, benchmark, **kwargs):
        seen.update(kwargs)
        return RunSummary(benchmark=benchmark, model=model, judges=[], params=GenerationParams(), n=0, n_samples=0), []

    monkeypatch.setattr(pipeline, "evaluate_async", fake)
    result = eval_cli("--model", "openai:m@http://127.0.0.1:9/v1", "--benchmark", "xstest", "--timeout", "12.5",
                      "--judge-api-key-env", "JUDGE_KEY", "--victim-api-key-env", "VICTIM_KEY", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert seen["model_options"].timeout_s == 12.5
    assert seen["role_api_key_envs"] == {"judge": "JUDGE_KEY", "victim": "VICTIM_KEY"}
    seen.clear()
    default = eval_cli("--model", "openai:m@http://127.0.0.1:9/v1", "--benchmark", "xstest", "--out", str(tmp_path / "o"))
    assert default.exit_code == 0 and seen["model_options"].timeout_s == 900 and "role_api_key_envs" not in seen


def test_the_judge_key_env_is_sent_to_the_judge_server(monkeypatch, tmp_path):
    def judge(body):
        return Reply("The text declines.\nVERDICT: REFUSAL")

    monkeypatch.setenv("TARGET_KEY", "target-secret")
    monkeypatch.setenv("JUDGE_KEY", "judge-secret")
    with FakeOpenAIServer(refuse) as target, FakeOpenAIServer(judge) as judge_server:
        result = eval_cli("--model", f"openai:m@{target.base_url}", "--benchmark", "xstest", "--limit", "2",
                          "--api-key-env", "TARGET_KEY", "--judge", f"refusal-llm=openai:j@{judge_server.base_url}",
                          "--judge-api-key-env", "JUDGE_KEY", "--out", str(tmp_path / "o"))
        judge_auth = {h.get("authorization") for h in judge_server.headers_seen}
    if result.exit_code != 0 and "role_api_key_envs" in result.output:
        pytest.skip("pipeline.evaluate_async does not take role_api_key_envs yet")
    assert result.exit_code == 0, result.output
    assert judge_auth == {"Bearer judge-secret"}


# ---------------------------------------------------------------- E, F: plain text, unwrapped errors


def test_markup_in_a_model_name_and_out_path_is_printed_as_text(tmp_path):
    out = tmp_path / "run[/red]x"
    with FakeOpenAIServer(refuse) as server:
        result = eval_cli("--model", f"openai:m[/b]x@{server.base_url}", "--benchmark", "xstest", "--limit", "3",
                          "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "m[/b]x" in result.stdout and "run[/red]x" in result.stdout
    assert (out / "summary.json").exists()


def test_error_lines_are_never_wrapped(tmp_path):
    long_dir = tmp_path / ("d" * 120) / ("e" * 60) / "model"
    result = runner.invoke(app, ["eval", "--model", f"hf:{long_dir}", "--benchmark", "xstest", "--no-progress"],
                           terminal_width=80)
    assert result.exit_code == 2
    assert str(long_dir) in one_error_line(result)


# ---------------------------------------------------------------- G: one project error type


def test_project_errors_exit_2_and_crashes_keep_their_traceback(monkeypatch, tmp_path):
    import thinksafe.pipeline as pipeline

    def raising(error):
        async def fake(*args, **kwargs):
            raise error

        return fake

    args = ["--model", "openai:m@http://127.0.0.1:9/v1", "--benchmark", "xstest", "--out", str(tmp_path / "o")]
    monkeypatch.setattr(pipeline, "evaluate_async", raising(ThinksafeError("the [/red] thing is wrong")))
    result = eval_cli(*args)
    assert result.exit_code == 2 and one_error_line(result) == "error: the [/red] thing is wrong"
    monkeypatch.setattr(pipeline, "evaluate_async", raising(RuntimeError("a real bug")))
    crash = eval_cli(*args)
    assert isinstance(crash.exception, RuntimeError)  # not swallowed into an `error:` line
