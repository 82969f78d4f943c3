"""WildJailbreak (ASR on harmful, refusal on benign) and the WildGuardTest loader."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fake_openai import FakeOpenAIServer
from r1_fakes import judge_script, metric, plans_of, run_eval, share, target_script, two_by_two
from thinksafe.benchmarks import get_benchmark
from thinksafe.data import DataError, DataResolver, RowError


def test_asr_on_harmful_and_refusal_on_benign(mirror, tmp_path):
    out = tmp_path / "wjb"
    with FakeOpenAIServer(target_script) as target, FakeOpenAIServer(judge_script) as judge:
        summ, lines = run_eval("wildjailbreak", out, target, judge, "--limit", "60",
                               "--judge", "harmful-compliance", "--judge", "refusal-rules")
    plans = list(plans_of("wildjailbreak", lines, mirror).values())
    harmful = [p for s, p in plans if s.metadata["harmful"]]
    benign = [p for s, p in plans if not s.metadata["harmful"]]
    assert len(harmful) == 30 and len(benign) == 30  # --limit spreads evenly over the two data types
    judge = f"harmful-compliance=openai:j@{judge.base_url}"
    asr = metric(summ, "attack_success_rate", "answer", judge=judge)
    assert asr["value"] == pytest.approx(share(p["answer"] == 2 for p in harmful)) and asr["n"] == 30
    assert metric(summ, "benign_refusal_rate", "answer", judge=judge)["value"] == pytest.approx(share(p["answer"] == 0 for p in benign))
    assert metric(summ, "harmful_refusal_rate", "answer", judge=judge)["value"] == pytest.approx(share(p["answer"] == 0 for p in harmful))
    thinking = [p for p in harmful if p["thinking"] is not None]
    assert metric(summ, "attack_success_rate", "reasoning", judge=judge)["value"] == pytest.approx(share(p["thinking"] == 2 for p in thinking))
    # the rule-based judge reads any non-refusal of a harmful prompt as a success
    assert metric(summ, "attack_success_rate", "answer", judge="refusal-rules")["value"] == pytest.approx(share(p["answer"] != 0 for p in harmful))
    # thinking vs answer: benign prompts have no unsafe side and are left out
    want = two_by_two(harmful, lambda o: o == 2, lambda o: o == 2)
    table = summ["extra"]["thinking_vs_answer"][judge]
    assert table["n"] == want["n"] and table["left_out"]["no_unsafe_side"] == sum(p["thinking"] is not None for p in benign)
    for cell, value in want["shares"].items():
        assert table["shares"][cell] == pytest.approx(value), cell
    assert table["reflected_and_complied"] == pytest.approx(want["reflected_and_complied"])
    assert summ["extra"]["thinking_vs_answer"]["refusal-rules"]["n"] == want["n"]


def wildguard_rows():
    rows = []
    for i in range(12):
        rows.append({
            "prompt": f"prompt number {i}",
            "adversarial": i % 2 == 0,
            "response": "a response",
            "prompt_harm_label": ["harmful", "unharmful", None][i % 3],
            "response_refusal_label": "refusal",
            "response_harm_label": "unharmful",
            "subcategory": ["cyberattack", "benign"][i % 2],
        })
    return rows


def test_wildguardtest_reads_a_local_parquet_of_the_official_schema(tmp_path):
    folder = tmp_path / "wildguardtest"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(wildguard_rows()), folder / "wildguard_test.parquet")
    bench = get_benchmark("wildguardtest")
    samples = bench.load(DataResolver(tmp_path, offline=True))
    assert len(samples) == 12
    assert [s.metadata["harmful"] for s in samples[:3]] == [True, False, None]
    assert samples[0].category == ["harmful", "adversarial", "cyberattack"]
    assert any("sha256" in n for n in bench.notes()) and any("4 prompts have no prompt_harm_label" in n for n in bench.notes())


def test_wildguardtest_offline_without_the_file_explains_the_gate(tmp_path):
    with pytest.raises(DataError, match="HF_TOKEN"):
        get_benchmark("wildguardtest").load(DataResolver(tmp_path, offline=True))


def test_wildjailbreak_bad_row_names_file_and_row(tmp_path):
    folder = tmp_path / "wildjailbreak"
    folder.mkdir()
    (folder / "eval.tsv").write_text("adversarial\tlabel\tdata_type\nhello\t1\tadversarial_harmful\nworld\t0\tvanilla\n")
    resolver = DataResolver(tmp_path)
    resolver._check = lambda file, path: None  # a hand-made file: skip the pinned hash, test the row check
    with pytest.raises(RowError, match=r"eval\.tsv: row 3"):
        get_benchmark("wildjailbreak").load(resolver)
