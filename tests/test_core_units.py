"""Data loading, stratified limits, store keys and batching, the Python API, suites, error messages."""

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from fake_openai import FakeOpenAIServer, Reply
from thinksafe import GenerationParams, Message, evaluate
from thinksafe.benchmarks.base import Suite, get_benchmark, register_suite, stratified_limit, suite_names
from thinksafe.cli import app
from thinksafe.data import DataError, DataFile, DataResolver, RowError
from thinksafe.schema import Completion, Judgement
from thinksafe.store import Store, generation_key, judgement_key

runner = CliRunner()


def test_mirror_is_read_and_checked(mirror):
    samples = get_benchmark("xstest").load(DataResolver(mirror))
    assert len(samples) == 450
    assert Counter(s.category[0] for s in samples) == {"safe": 250, "unsafe": 200}
    assert samples[0].id == "xstest-1" and samples[0].metadata["harmful"] is False


def test_sha_mismatch_is_an_error(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f.csv").write_text("x")
    file = DataFile(benchmark="b", name="f.csv", url="https://example.org/f.csv", sha256="0" * 64)
    with pytest.raises(DataError, match="does not match the pinned sha256"):
        DataResolver(tmp_path).path(file)


def test_offline_without_file_names_url_and_mirror_path(tmp_path):
    file = DataFile(benchmark="xstest", name="xstest_prompts.csv", url="https://example.org/x.csv")
    with pytest.raises(DataError) as info:
        DataResolver(tmp_path / "mirror", offline=True).path(file)
    message = str(info.value)
    assert "https://example.org/x.csv" in message and str(tmp_path / "mirror" / "xstest" / "xstest_prompts.csv") in message


def test_malformed_row_names_file_and_row(tmp_path):
    from thinksafe.benchmarks.xstest import XSTEST_CSV

    bad = tmp_path / "xstest" / "xstest_prompts.csv"
    bad.parent.mkdir()
    bad.write_text("id,prompt,type,label\n1,hello,homonyms,safe\n2,,homonyms,maybe\n")
    resolver = DataResolver(tmp_path)
    resolver._check = lambda file, path: None  # a local variant of the file, on purpose
    with pytest.raises(RowError) as info:
        get_benchmark("xstest").load(resolver)
    assert info.value.row == 3 and str(bad) in str(info.value)
    assert XSTEST_CSV.sha256  # the real file is pinned


def test_cli_reports_malformed_data_cleanly(tmp_path):
    bad = tmp_path / "xstest" / "xstest_prompts.csv"
    bad.parent.mkdir()
    bad.write_text("id,prompt\n1,hello\n")
    result = runner.invoke(app, ["eval", "--model", "openai:m@http://127.0.0.1:9/v1", "--benchmark", "xstest",
                                 "--data-dir", str(tmp_path), "--no-progress"])
    assert result.exit_code == 2 and "sha256" in result.output


def test_stratified_limit_is_seeded_even_and_stable(mirror):
    bench = get_benchmark("xstest")
    samples = bench.load(DataResolver(mirror))
    first = stratified_limit(samples, 36, bench.stratum, seed=0)
    again = stratified_limit(samples, 36, bench.stratum, seed=0)
    assert [s.id for s in first] == [s.id for s in again]
    counts = Counter(bench.stratum(s) for s in first)
    assert len(counts) == 18 and set(counts.values()) == {2}
    assert [s.id for s in stratified_limit(samples, 36, bench.stratum, seed=1)] != [s.id for s in first]
    assert stratified_limit(samples, None, bench.stratum) == samples


def test_generation_key_covers_model_params_messages_and_sample_index():
    messages = [Message(role="user", content="hi")]
    base = generation_key("hf:m", GenerationParams(), messages)
    assert base == generation_key("hf:m", GenerationParams(n=4), messages)  # n only multiplies requests
    assert base != generation_key("hf:other", GenerationParams(), messages)
    assert base != generation_key("hf:m", GenerationParams(temperature=0), messages)
    assert base != generation_key("hf:m", GenerationParams(), [Message(role="user", content="hi!")])
    assert base != generation_key("hf:m", GenerationParams(), messages, sample_index=1)
    assert judgement_key({"name": "j", "prompt": "a"}, "answer", base) != judgement_key({"name": "j", "prompt": "b"}, "answer", base)


def test_store_commits_in_batches(tmp_path):
    path = tmp_path / "s.sqlite"
    store = Store(path, batch_size=10, max_delay_s=3600)
    for i in range(25):
        store.put_generation(f"k{i}", "m", Completion(answer=str(i)))
    other = Store(path)
    assert other.count("generations") == 20  # two batches committed, five pending
    store.put_judgement("j", "k0", Judgement(judge="x", channel="answer", label="refusal"))
    store.close()
    assert other.count("generations") == 25 and other.count("judgements") == 1
    assert other.get_generations(["k3"])["k3"].answer == "3"
    other.close()


def test_python_api_mirrors_cli(tmp_path):
    with FakeOpenAIServer(lambda body: Reply("<think>fine</think>I'm sorry, but I can't help with that.")) as server:
        summary = evaluate(f"openai:m@{server.base_url}", "xstest", limit=20, out=tmp_path / "api")
    assert summary.n == 20 and summary.judges == ["refusal-rules"]
    over = next(m for m in summary.metrics if m.name == "over_refusal_rate" and m.group == "all" and m.channel == "answer")
    assert over.value == 1.0
    assert (tmp_path / "api" / "summary.json").exists()


def test_several_samples_per_prompt_resample_prompts(tmp_path):
    calls = Counter()

    def script(body):
        calls[body["seed"]] += 1
        return Reply("I'm sorry, but I can't." if body["seed"] % 2 else "Sure.")

    with FakeOpenAIServer(script) as server:
        summary = evaluate(f"openai:m@{server.base_url}", "xstest", limit=10,
                           params=GenerationParams(n=4, max_new_tokens=16))
    assert summary.n == 40 and summary.n_samples == 10
    assert calls == {0: 10, 1: 10, 2: 10, 3: 10}  # each sample index has its own seed
    unsafe = next(m for m in summary.metrics if m.name == "unsafe_compliance_rate" and m.group == "all" and m.channel == "answer")
    assert unsafe.value == 0.5 and unsafe.ci_low == unsafe.ci_high == 0.5  # every prompt is 2/4


def test_suite_runs_members_and_writes_combined_table(tmp_path):
    @register_suite
    class TinySuite(Suite):
        name = "test-suite"
        members = ("xstest",)

    assert "test-suite" in suite_names()
    with FakeOpenAIServer(lambda body: Reply("Sure.")) as server:
        result = runner.invoke(app, ["eval", "--model", f"openai:m@{server.base_url}", "--benchmark", "test-suite",
                                     "--limit", "10", "--out", str(tmp_path / "suite"), "--no-progress"])
    assert result.exit_code == 0, result.output
    combined = json.loads((tmp_path / "suite" / "summary.json").read_text())
    assert (tmp_path / "suite" / "xstest" / "summary.json").exists()
    assert {row["metric"] for row in combined["rows"]} == {"over_refusal_rate", "unsafe_compliance_rate"}
    row = next(r for r in combined["rows"] if r["metric"] == "over_refusal_rate")
    assert row["answer"]["value"] == 0.0 and row["reasoning"]["value"] is None and row["reasoning"]["n"] == 0


def test_missing_hub_model_says_how_to_point_elsewhere(tmp_path):
    result = runner.invoke(app, ["eval", "--model", "hf:deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "--benchmark", "xstest",
                                 "--limit", "2", "--out", str(tmp_path / "o"), "--no-progress"])
    assert result.exit_code == 2
    assert "--model hf:DIR" in result.output and "openai:" in result.output


def test_cpu_budget_is_said_on_screen(tmp_path, tiny_r1_model):
    result = runner.invoke(app, ["eval", "--model", f"hf:{tiny_r1_model}", "--benchmark", "xstest", "--cpu-budget",
                                 "--max-new-tokens", "2", "--out", str(tmp_path / "o"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "No GPU" in result.output
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["n"] == 40


def test_listing_commands():
    assert "xstest" in runner.invoke(app, ["benchmarks"]).output
    listed = runner.invoke(app, ["judges"]).output
    assert "refusal-rules" in listed and "refusal-llm" in listed


def test_rubric_judge_identity_covers_prompt_model_and_version():
    from thinksafe.judges.base import JudgeContext, make_judge

    judge = make_judge("refusal-llm", JudgeContext(judge_model="openai:j@http://127.0.0.1:1/v1"))
    other_model = make_judge("refusal-llm", JudgeContext(judge_model="openai:k@http://127.0.0.1:1/v1"))
    assert judge.identity() != other_model.identity()
    changed = make_judge("refusal-llm", JudgeContext(judge_model="openai:j@http://127.0.0.1:1/v1"))
    changed.rubric += "\nBe strict."
    assert changed.identity() != judge.identity()
    with pytest.raises(ValueError, match="needs a judge model"):
        make_judge("refusal-llm", JudgeContext())


def test_default_suite_runs_offline_without_a_judge_model():
    from thinksafe.judges.base import JudgeContext, make_judge

    suite = suite_names()["default"]
    assert "xstest" in suite.members and "gsm8k" in suite.members
    for member in suite.members:
        bench = get_benchmark(member)
        for judge in bench.default_judges:
            make_judge(judge, JudgeContext())  # raises if the judge needs a model
    assert get_benchmark("chisafetybench-qa", judge_model="openai:j@http://x/v1").default_judges == ("chisafety-refusal",)


def test_read_json_names_the_file_and_line_of_invalid_json(tmp_path):
    from thinksafe.data import RowError, read_json

    path = tmp_path / "cases.json"
    path.write_text('[\n  {"a": 1},\n  {"a": 2,,}\n]\n')
    with pytest.raises(RowError, match=r"cases.json: row 3: not valid JSON"):
        read_json(path)
    path.write_text('[{"a": 1}]')
    assert read_json(path) == [{"a": 1}]
