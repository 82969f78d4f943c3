"""Answer keys: user files, and the hub key checked row by row on a locally built redbench-schema file."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thinksafe.judges.answer_keys as answer_keys
from thinksafe.judges.answer_keys import KeyMismatch, hub_key, load_key_file, verify_redbench
from thinksafe.benchmarks import get_benchmark
from thinksafe.benchmarks.chisafetybench import key_items
from thinksafe.data import DataError, DataResolver

REDBENCH_COLUMNS = ("prompt", "choices", "answer", "task", "subtask", "category", "domain", "language", "source")


@pytest.fixture(scope="module")
def items():
    bench = get_benchmark("chisafetybench-mcq", answer_key="none")
    from conftest import MIRROR

    return key_items(bench.load(DataResolver(MIRROR, offline=True)))


def synthetic_letter(item) -> str:
    letters = list(item.options)
    return letters[int(item.upstream_id) * 7 % len(letters)]


def redbench_rows(items, answer=lambda item: synthetic_letter(item)):
    return [
        {
            "prompt": item.question, "choices": json.dumps(list(item.options.values()), ensure_ascii=False),
            "answer": answer(item), "task": "mcq", "subtask": "", "category": "c", "domain": "safety",
            "language": "zh", "source": "CHiSafetyBench",
        }
        for item in items
    ]


def write_parquet(path, rows):
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_json_and_csv_keys(items, tmp_path):
    first, second = items[0], items[1]
    as_json = tmp_path / "key.json"
    as_json.write_text(json.dumps({first.upstream_id: "Ａ", second.upstream_id: {"answer": 1}}), encoding="utf-8")
    key = load_key_file(as_json, items)
    assert key.letters == {first.id: "A", second.id: "B"}
    assert "covers 2 of 1567" in key.notes[0] and "sha256" in key.source
    as_csv = tmp_path / "key.csv"
    as_csv.write_text(f"id,answer\n{first.upstream_id},b\n{second.upstream_id},A\n", encoding="utf-8")
    assert load_key_file(as_csv, items).letters == {first.id: "B", second.id: "A"}
    headerless = tmp_path / "bare.csv"
    headerless.write_text(f"{first.upstream_id},否\n", encoding="utf-8")  # the option's text
    assert load_key_file(headerless, items).letters == {first.id: "B"}


def test_key_errors_name_the_problem(items, tmp_path):
    bad_id = tmp_path / "bad_id.json"
    bad_id.write_text(json.dumps({"99999": "A"}), encoding="utf-8")
    with pytest.raises(DataError, match="1 ids are not items"):
        load_key_file(bad_id, items)
    two_options = next(i for i in items if len(i.options) == 2)
    bad_letter = tmp_path / "bad_letter.json"
    bad_letter.write_text(json.dumps({two_options.upstream_id: "D"}), encoding="utf-8")
    with pytest.raises(DataError, match=f"item {two_options.upstream_id}: answer 'D' is not one of its options A/B"):
        load_key_file(bad_letter, items)
    with pytest.raises(DataError, match="does not exist"):
        load_key_file(tmp_path / "missing.json", items)


def test_redbench_schema_rows_are_checked_against_our_ids_and_texts(items, tmp_path):
    good = write_parquet(tmp_path / "good.parquet", redbench_rows(items))
    key = verify_redbench(good, items)
    assert len(key.letters) == 1567 and key.letters == {i.id: synthetic_letter(i) for i in items}
    assert key.notes == ["1567/1567 rows match our ids and question texts"]
    # answers given as the option's text are read too, unless two options share that text (item 636)
    def text_answer(item):
        text = item.options[synthetic_letter(item)]
        return text if list(item.options.values()).count(text) == 1 else synthetic_letter(item)

    as_text = write_parquet(tmp_path / "text.parquet", redbench_rows(items, answer=text_answer))
    assert verify_redbench(as_text, items).letters == key.letters
    ambiguous = redbench_rows(items)
    ambiguous[635]["answer"] = "抢夺罪"  # item 636 lists 抢夺罪 twice
    with pytest.raises(KeyMismatch, match=r"row 636 \(item 636\): answer '抢夺罪' is not one of the options"):
        verify_redbench(write_parquet(tmp_path / "ambiguous.parquet", ambiguous), items)

    rows = redbench_rows(items)
    rows[10]["prompt"] = "一道完全不同的题目？\nA. 是\nB. 否"
    with pytest.raises(KeyMismatch, match=r"1 of 1567 rows .*row 11 \(item 11\): question text differs"):
        verify_redbench(write_parquet(tmp_path / "text_changed.parquet", rows), items)
    swapped = redbench_rows(items)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(KeyMismatch, match="2 of 1567 rows"):
        verify_redbench(write_parquet(tmp_path / "swapped.parquet", swapped), items)
    with pytest.raises(KeyMismatch, match="1566 rows, expected 1567"):
        verify_redbench(write_parquet(tmp_path / "short.parquet", redbench_rows(items)[:-1]), items)
    wrong_answer = redbench_rows(items)
    two = next(n for n, i in enumerate(items) if len(i.options) == 2)
    wrong_answer[two]["answer"] = "C"
    with pytest.raises(KeyMismatch, match="answer 'C' is not one of the options A/B"):
        verify_redbench(write_parquet(tmp_path / "wrong_answer.parquet", wrong_answer), items)
    options_changed = redbench_rows(items)
    options_changed[5]["choices"] = json.dumps(["是", "否", "不确定"], ensure_ascii=False)
    with pytest.raises(KeyMismatch, match="options differ"):
        verify_redbench(write_parquet(tmp_path / "options.parquet", options_changed), items)
    no_answer = [{k: v for k, v in row.items() if k != "answer"} for row in redbench_rows(items)]
    with pytest.raises(KeyMismatch, match=r"columns \['answer'\] missing"):
        verify_redbench(write_parquet(tmp_path / "no_answer.parquet", no_answer), items)


def test_hub_key_records_sha256_on_first_fetch_and_refuses_changed_bytes(items, tmp_path, monkeypatch):
    served = {"path": write_parquet(tmp_path / "hub.parquet", redbench_rows(items))}
    calls = []

    def fake_download(spec, offline):
        calls.append((spec.repo_id, spec.revision, spec.filename, offline))
        return served["path"]

    monkeypatch.setattr(answer_keys, "_hub_download", fake_download)
    key, said = hub_key(items, offline=False)
    assert key is not None and len(key.letters) == 1567
    assert "recorded now on first fetch" in said and "1567/1567 rows match" in said and "knoveleng/redbench@ca573af546ce" in said
    assert calls == [("knoveleng/redbench", "ca573af546cedc39e013d78f2699f67f4bd84200", "CHiSafetyBench/train-00000-of-00001.parquet", False)]
    again, said = hub_key(items, offline=False)
    assert again is not None and "as recorded on first fetch" in said
    changed = redbench_rows(items)
    changed[0]["domain"] = "other"  # same key, different bytes
    served["path"] = write_parquet(tmp_path / "hub2.parquet", changed)
    refused, said = hub_key(items, offline=False)
    assert refused is None and "was recorded on first fetch" in said and "refusing the changed file" in said


def test_hub_key_offline_without_a_cached_copy_is_no_key(items):
    key, said = hub_key(items, offline=True)
    assert key is None and said.startswith("no answer key from the hub (cannot fetch knoveleng/redbench")
