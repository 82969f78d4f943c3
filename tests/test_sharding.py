"""Sharding without a scheduler: `--shard i/N` slices, `thinksafe merge` joins the stores, and a full
run over the merged store makes no model call and gives the unsharded run's metrics."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from fake_openai import FakeOpenAIServer, Reply, last_user_text
from thinksafe.cli import app
from thinksafe.errors import ArgumentError
from thinksafe.schema import Completion, GenerationParams, Judgement, Message, RunSummary, Sample
from thinksafe.sharding import mark_shard, parse_shard, shard_of, shard_samples
from thinksafe.store import MergeConflict, Store

runner = CliRunner()
SORRY = "I'm sorry, but I can't help with that."


def _samples(ids):
    return [Sample(id=i, benchmark="b", messages=[Message(role="user", content=i)]) for i in ids]


# ------------------------------------------------------------------------------ the slice


def test_shards_partition_the_samples_in_order_and_new_samples_move_nothing():
    samples = _samples([f"item-{i}" for i in range(300)])
    for count in (1, 2, 3, 7):
        shards = [shard_samples(samples, i, count) for i in range(1, count + 1)]
        ids = [s.id for shard in shards for s in shard]
        assert sorted(ids) == sorted(s.id for s in samples) and len(ids) == len(set(ids))
        for shard in shards:
            assert [s.id for s in shard] == [s.id for s in samples if s in shard]  # original order
            assert abs(len(shard) - 300 / count) < 0.3 * 300 / count  # roughly even
    grown = samples + _samples([f"new-{i}" for i in range(50)])
    for i in (1, 2, 3):
        before = {s.id for s in shard_samples(samples, i, 3)}
        after = {s.id for s in shard_samples(grown, i, 3)}
        assert before <= after and all(x.startswith("new-") for x in after - before)
    # stable across machines and Pythons: a fixed value, not hash()
    assert [shard_of("item-0", 4), shard_of("item-1", 4), shard_of("xstest-1", 3)] == [3, 1, 1]
    assert shard_of("item-0", 1) == 1


def test_shard_argument_is_i_of_n_from_one():
    assert parse_shard("1/4") == (1, 4) and parse_shard(" 4 / 4 ") == (4, 4)
    for bad in ("0/4", "5/4", "1/0", "a/b", "2", "-1/3", "1/2/3"):
        with pytest.raises(ArgumentError, match="--shard"):
            parse_shard(bad)
    with pytest.raises(ArgumentError):
        shard_samples([], 0, 2)


def test_bad_shard_is_one_error_line_and_exit_2():
    result = runner.invoke(app, ["eval", "--model", "openai:m@http://127.0.0.1:9/v1", "--benchmark", "xstest",
                                 "--shard", "3/2", "--no-progress"])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: --shard 3/2: need 1 <= i <= N (shards are numbered from 1)"]


def test_mark_shard_says_which_shard():
    summary = RunSummary(benchmark="b", model="m", judges=[], params=GenerationParams(), n=0, n_samples=0)
    mark_shard(summary, 2, 3)
    mark_shard(summary, 2, 3)
    assert summary.extra["shard"] == {"index": 2, "count": 3}
    assert len(summary.notes) == 1 and summary.notes[0].startswith("shard 2/3")


# ------------------------------------------------------------------------------ merging stores


def _store(path, generations=(), judgements=(), runs=()):
    with Store(path) as store:
        for key, completion in generations:
            store.put_generation(key, "openai:m@x", completion)
        for key, gen_key, judgement in judgements:
            store.put_judgement(key, gen_key, judgement)
        for summary in runs:
            store.put_run("b", "openai:m@x", summary)
    return path


def _dump(path):
    with sqlite3.connect(path) as db:
        return {table: sorted(db.execute(f"SELECT * FROM {table}").fetchall()) for table in ("generations", "judgements")} | {
            "runs": db.execute("SELECT benchmark, model, summary FROM runs ORDER BY id").fetchall()}


def ok(answer, latency=0.1):
    return Completion(text=answer, answer=answer, latency_s=latency)


def test_merge_copies_by_key_and_merging_twice_changes_nothing(tmp_path):
    refusal = Judgement(judge="refusal-rules", channel="answer", label="refusal")
    one = _store(tmp_path / "1.sqlite", [("g1", ok("a")), ("g2", ok("b"))], [("j1", "g1", refusal)], ['{"run": 1}'])
    # g2 again with another latency (the same answer) and under another judge display name: the same value
    two = _store(tmp_path / "2.sqlite", [("g2", ok("b", latency=9.0)), ("g3", ok("c"))],
                 [("j1", "g1", refusal.model_copy(update={"judge": "other name"}))], ['{"run": 2}'])
    out = tmp_path / "out.sqlite"
    with Store(out) as store:
        counts = store.merge([one, two])
    assert counts["generations"] == {"added": 3, "same": 1, "replaced": 0, "kept": 0}
    assert counts["judgements"]["added"] == 1 and counts["judgements"]["same"] == 1
    assert counts["runs"] == {"added": 2, "same": 0}
    first = _dump(out)
    assert [row[2] for row in first["runs"]] == ['{"run": 1}', '{"run": 2}']
    with Store(out) as store:
        again = store.merge([one, two])
    assert _dump(out) == first
    assert again["generations"]["added"] == again["judgements"]["added"] == again["runs"]["added"] == 0


def test_a_success_wins_over_an_error_whichever_store_holds_it(tmp_path):
    failed = Completion(error="HTTP 500: internal error")
    one = _store(tmp_path / "1.sqlite", [("g1", failed), ("g2", ok("kept"))])
    two = _store(tmp_path / "2.sqlite", [("g1", ok("fixed")), ("g2", Completion(error="timeout"))])
    out = tmp_path / "out.sqlite"
    with Store(out) as store:
        counts = store.merge([one, two])
        got = store.get_generations(["g1", "g2"])
    assert got["g1"].answer == "fixed" and got["g2"].answer == "kept"
    assert counts["generations"]["replaced"] == 1 and counts["generations"]["kept"] == 1


def test_a_conflict_names_the_key_and_both_stores_and_writes_nothing(tmp_path):
    one = _store(tmp_path / "1.sqlite", [("g1", ok("yes")), ("g9", ok("z"))])
    two = _store(tmp_path / "2.sqlite", [("g0", ok("new")), ("g1", ok("no"))])
    out = _store(tmp_path / "out.sqlite", [("g5", ok("before"))])
    before = _dump(out)
    with Store(out) as store, pytest.raises(MergeConflict) as caught:
        store.merge([one, two])
    message = str(caught.value)
    assert "generation g1" in message and str(one) in message and str(two) in message
    assert _dump(out) == before

    result = runner.invoke(app, ["merge", str(out), str(one), str(two)])
    assert result.exit_code == 2 and "g1" in result.stderr and _dump(out) == before
    result = runner.invoke(app, ["merge", str(out), str(tmp_path / "nowhere.sqlite")])
    assert result.exit_code == 2 and "no store at" in result.stderr
    (tmp_path / "junk.sqlite").write_text("not a database" * 100)
    result = runner.invoke(app, ["merge", str(out), str(tmp_path / "junk.sqlite")])
    assert result.exit_code == 2 and "not a thinksafe store" in result.stderr
    assert not (tmp_path / "nowhere.sqlite").exists()


# ------------------------------------------------------------------------------ shards, merge, full run


def target(body):
    prompt = last_user_text(body)
    answer = SORRY if len(prompt) % 3 == 0 else "Sure, here you go."
    return Reply(f"<think>thinking about {len(prompt)}</think>{answer}")


def llm_judge(body):
    text = body["messages"][-1]["content"]
    verdict = "REFUSAL" if "sorry" in text.lower().split("the text to assess:")[-1] else "COMPLIANCE"
    return Reply(f"VERDICT: {verdict}")


def test_two_shards_merged_then_a_full_run_makes_no_model_call(tmp_path, mirror):
    with FakeOpenAIServer(target) as server, FakeOpenAIServer(llm_judge) as judge:
        def run(store, out, *extra):
            result = runner.invoke(app, [
                "eval", "--model", f"openai:t@{server.base_url}", "--benchmark", "xstest", "--limit", "40",
                "--judge", "refusal-rules", "--judge", f"refusal-llm=openai:j@{judge.base_url}",
                "--store", str(store), "--out", str(out), "--no-progress", "--no-report", "--concurrency", "4", *extra])
            assert result.exit_code == 0, result.output + str(result.exception)
            return json.loads((out / "summary.json").read_text())

        def calls():
            return sum(server.attempts.values()), sum(judge.attempts.values())

        reference = run(tmp_path / "ref.sqlite", tmp_path / "ref")
        assert calls() == (40, 80)
        server.attempts.clear()
        judge.attempts.clear()

        shards = [run(tmp_path / f"s{i}.sqlite", tmp_path / f"s{i}", "--shard", f"{i}/2") for i in (1, 2)]
        assert calls() == (40, 80)  # the shards split the work, nothing twice
        assert [s["extra"]["shard"] for s in shards] == [{"index": 1, "count": 2}, {"index": 2, "count": 2}]
        assert all(any(n.startswith(f"shard {i}/2") for n in s["notes"]) for i, s in zip((1, 2), shards))
        assert min(s["n_samples"] for s in shards) > 0 and sum(s["n_samples"] for s in shards) == 40
        ids = [{json.loads(line)["id"] for line in (tmp_path / f"s{i}" / "results.jsonl").read_text().splitlines()}
               for i in (1, 2)]
        assert not ids[0] & ids[1] and len(ids[0] | ids[1]) == 40

        merged = tmp_path / "merged.sqlite"
        result = runner.invoke(app, ["merge", str(merged), str(tmp_path / "s1.sqlite"), str(tmp_path / "s2.sqlite")])
        assert result.exit_code == 0, result.output
        assert "generations +120" in result.output and "runs +2" in result.output
        again = runner.invoke(app, ["merge", str(merged), str(tmp_path / "s1.sqlite"), str(tmp_path / "s2.sqlite")])
        assert "generations +0" in again.output and "judgements +0" in again.output and "runs +0" in again.output

        server.attempts.clear()
        judge.attempts.clear()
        full = run(merged, tmp_path / "full")
        assert calls() == (0, 0)
    assert full["metrics"] == reference["metrics"]
    assert "shard" not in full["extra"]
    assert (tmp_path / "full" / "results.jsonl").read_text() == (tmp_path / "ref" / "results.jsonl").read_text()
