"""Bad input gets a one-line DataError/RowError naming the file (and the row); never a raw traceback.

Targeted cases for the row readers (csv_rows, jsonl_rows, read_json), the MCQ answer keys and
the loaders, then a bounded hypothesis fuzz over every benchmark's load() fed mutated copies
of its mirror files (laid out as <benchmark>/<file> in a temporary mirror, pinned hashes off).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thinksafe.judges.answer_keys import KeyItem, load_key_file, read_key_rows
from thinksafe.benchmarks.base import benchmark_names, check_unique_ids, get_benchmark, load_samples
from thinksafe.data import DataError, DataFile, DataResolver, RowError, csv_rows, jsonl_rows, read_json
from thinksafe.schema import Message, Sample

NETWORK_ONLY = {"wildguardtest"}  # gated on the hub: no mirror copy, needs HF_TOKEN and the network
OPTIONS = {"chisafetybench-mcq": {"answer_key": "none"}}  # the hub key is tested in test_mcq_answer_keys.py


def one_line_error(error: BaseException, *names: str) -> str:
    message = str(error)
    assert "\n" not in message, message
    assert any(name in message for name in names), f"{message!r} names none of {names}"
    return message


# ---------------------------------------------------------------------------- 1. CSV quoting


def test_csv_rows_turns_an_unterminated_quote_into_a_row_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('id,text\n0,"fine"\n1,"unterminated...')
    with pytest.raises(RowError) as caught:
        csv_rows(path, ("id", "text"))
    assert caught.value.row == 3
    assert str(caught.value).startswith(f"{path}: row 3: unterminated quoted field")


def test_csv_rows_rejects_rows_whose_field_count_differs_from_the_header(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n")
    with pytest.raises(RowError, match=r"x.csv: row 3: has 2 fields, the header has 3"):
        csv_rows(path, ("a",))


def test_csv_rows_turns_a_csv_error_into_a_row_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('a,b\n1,2\n3,"x"y\n')  # text after a closing quote
    with pytest.raises(RowError, match=r"x.csv: row 3: malformed CSV at line 3"):
        csv_rows(path, ("a",))


@contextmanager
def no_pinned_hashes():
    """Hand-made mirror files: skip the sha256 pin (class-wide: jailbreakbench makes its own resolver)."""
    with mock.patch.object(DataResolver, "_check", lambda self, file, path: None):
        yield


def jbb_mirror(tmp_path: Path, mirror: Path, text: str) -> Path:
    folder = tmp_path / "data" / "jailbreakbench"
    folder.mkdir(parents=True)
    (folder / "jbb_behaviors_harmful_100.csv").write_text(text, encoding="utf-8")
    return tmp_path / "data"


def test_jailbreakbench_names_file_and_row_of_a_truncated_quote(mirror, tmp_path):
    text = (mirror / "jailbreakbench" / "jbb_behaviors_harmful_100.csv").read_text(encoding="utf-8")
    cut = text[: text.index("\n", 2000) + 1] + '99,"unterminated...'
    data = jbb_mirror(tmp_path, mirror, cut)
    with no_pinned_hashes(), pytest.raises(RowError) as caught:
        get_benchmark("jailbreakbench").load(DataResolver(data, offline=True))
    one_line_error(caught.value, "jbb_behaviors_harmful_100.csv")
    assert "unterminated quoted field" in str(caught.value)
    assert caught.value.row == cut.count("\n") + 1


# ---------------------------------------------------------------------------- 2. decoding and JSON


def test_csv_rows_names_the_row_and_byte_of_bad_utf8(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b'a,b\n1,2\n3,"multi\nline"\n4,\xff\n')
    with pytest.raises(RowError) as caught:
        csv_rows(path, ("a", "b"))
    assert caught.value.row == 4  # the record, not the physical line (5)
    assert str(caught.value) == f"{path}: row 4: byte 0xff at byte 25 (line 5 column 3) is not valid UTF-8"


def test_jsonl_rows_names_the_line_of_bad_utf8_and_of_bad_json(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xc3"}\n')
    with pytest.raises(RowError, match=r"x.jsonl: row 2: byte 0xc3 at byte 16 \(line 2 column 8\) is not valid UTF-8"):
        jsonl_rows(path)
    path.write_text('{"a": 1}\n\n{"a": 1e999999, "b": [1,]}\n')
    with pytest.raises(RowError, match=r"x.jsonl: row 3: not valid JSON"):
        jsonl_rows(path)
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(RowError, match=r"x.jsonl: row 2: expected a JSON object, got list"):
        jsonl_rows(path)


def test_read_json_names_line_column_and_byte(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('[\n  {"a": 1},\n  {"a": tru}\n]\n')
    with pytest.raises(RowError) as caught:
        read_json(path)
    assert caught.value.row == 3
    assert "line 3 column 9" in str(caught.value) and str(caught.value).startswith(f"{path}: row 3: not valid JSON")
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(RowError, match=r"x.json: row 1: byte 0xff at byte 7 \(line 1 column 8\)"):
        read_json(path)
    path.write_text("[" * 100_000)
    with pytest.raises(DataError, match=r"x.json: not valid JSON"):
        read_json(path)
    with pytest.raises(DataError, match=r"missing.json: cannot read the file"):
        read_json(tmp_path / "missing.json")


ITEMS = [
    KeyItem(id="1", upstream_id="1", question="q1", stem="q1", options={"A": "x", "B": "y"}),
    KeyItem(id="2", upstream_id="2", question="q2", stem="q2", options={"A": "x", "B": "y"}),
]


def test_a_json_answer_key_with_bad_json_or_utf8_names_the_file_and_line(tmp_path):
    key = tmp_path / "key.json"
    key.write_text('{"1": "A",\n "2": B}')
    with pytest.raises(RowError) as caught:
        load_key_file(key, ITEMS)
    one_line_error(caught.value, str(key))
    assert "row 2" in str(caught.value) and "line 2 column 7" in str(caught.value)
    key.write_bytes(b'{"1": "A", "2": "\xe9"}')
    with pytest.raises(RowError, match=r"key.json: row 1: byte 0xe9 at byte 17"):
        read_key_rows(key)


def test_a_csv_answer_key_with_bad_utf8_quoting_or_repeats_names_the_file_and_row(tmp_path):
    key = tmp_path / "key.csv"
    key.write_bytes(b"id,answer\n1,A\n2,\xff\n")
    with pytest.raises(RowError, match=r"key.csv: row 3: byte 0xff"):
        read_key_rows(key)
    key.write_text('id,answer\n1,A\n2,"B\n')
    with pytest.raises(RowError, match=r"key.csv: row 3: unterminated quoted field"):
        read_key_rows(key)
    key.write_text("1,A\n2,B\n1,B\n")
    with pytest.raises(RowError, match=r"key.csv: row 3: id '1' is given twice"):
        read_key_rows(key)
    key.write_text("1,A\n2,²\n")  # a Unicode digit that int() cannot read
    with pytest.raises(DataError, match=r"item 2: answer '²' is not one of its options"):
        load_key_file(key, ITEMS)


def test_a_corrupt_parquet_key_is_a_data_error(tmp_path):
    key = tmp_path / "key.parquet"
    key.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"key.parquet: not a readable parquet file"):
        load_key_file(key, ITEMS)


# ---------------------------------------------------------------------------- 3. unique ids


def sample(sample_id: str) -> Sample:
    return Sample(id=sample_id, benchmark="b", messages=[Message(role="user", content="hi")])


def test_check_unique_ids_names_the_duplicates_and_the_source():
    samples = [sample("a"), sample("b")]
    assert check_unique_ids(samples, "b (b/x.csv)") is samples
    with pytest.raises(DataError, match=r"^b \(b/x.csv\): 2 duplicated sample id\(s\): 'a' \(3 times\), 'b' \(2 times\)$"):
        check_unique_ids([sample("a"), sample("b"), sample("a"), sample("b"), sample("a"), sample("c")], "b (b/x.csv)")
    with pytest.raises(DataError, match=r"1 sample\(s\) have an empty id"):
        check_unique_ids([sample("")], "b")


def test_load_samples_checks_the_ids_a_loader_returns(mirror):
    bench = get_benchmark("xstest")
    assert len(load_samples(bench, DataResolver(mirror, offline=True))) == 450
    with mock.patch.object(type(bench), "load", lambda self, data: [sample("x"), sample("x")]):
        with pytest.raises(DataError, match=r"^xstest \(xstest/xstest_prompts.csv\): 1 duplicated sample id\(s\): 'x'"):
            load_samples(bench, DataResolver(mirror, offline=True))


def test_a_repeated_or_empty_index_in_jailbreakbench_names_the_row(mirror, tmp_path):
    lines = (mirror / "jailbreakbench" / "jbb_behaviors_harmful_100.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, first, second = lines[0], lines[1], lines[2]
    repeated = second.replace(second.split(",", 1)[0], first.split(",", 1)[0], 1)
    data = jbb_mirror(tmp_path, mirror, "".join([header, first, repeated, *lines[3:]]))
    with no_pinned_hashes(), pytest.raises(RowError) as caught:
        get_benchmark("jailbreakbench").load(DataResolver(data, offline=True))
    assert caught.value.row == 3 and "repeats the id of row 2" in str(caught.value)
    one_line_error(caught.value, "jbb_behaviors_harmful_100.csv")


def test_a_repeated_behavior_id_in_harmbench_names_the_row(mirror, tmp_path):
    import csv

    source = mirror / "harmbench" / "harmbench_behaviors_text_all.csv"
    with source.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    column = rows[0].index("BehaviorID")
    rows[5][column] = rows[4][column]
    folder = tmp_path / "data" / "harmbench"
    folder.mkdir(parents=True)
    with (folder / source.name).open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with no_pinned_hashes(), pytest.raises(RowError, match=r"harmbench_behaviors_text_all.csv: row 6: id .* repeats the id of row 5"):
        get_benchmark("harmbench").load(DataResolver(tmp_path / "data", offline=True))


# ---------------------------------------------------------------------------- 4. fuzz every loader


def benchmark_files(name: str) -> list[DataFile]:
    """The mirror files a benchmark reads (airbench finds its own, the others declare them)."""
    if name == "airbench-2024":
        from thinksafe.benchmarks.airbench import MIRROR_JUDGE, MIRROR_PROMPTS

        return [MIRROR_PROMPTS, MIRROR_JUDGE]
    return list(getattr(benchmark_names()[name], "files", ()))


# The built-in benchmarks that read files (generated ones such as injection-canary and demo read none);
# only these: other test modules register toy ones into the same registry.
FUZZED = sorted(name for name, cls in benchmark_names().items()
                if name not in NETWORK_ONLY and cls.__module__.startswith("thinksafe.benchmarks.") and benchmark_files(name))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def mutation(draw, content: bytes, suffix: str) -> bytes:
    """Garbage, a truncation, a byte splice, or (for JSON) a value of the wrong type somewhere."""
    kind = draw(st.sampled_from(["garbage", "truncate", "splice", "typed", "cell"]))
    if kind == "garbage":
        return draw(st.binary(max_size=200))
    if kind == "truncate":
        return content[: draw(st.integers(0, len(content)))]
    if kind == "splice":
        at = draw(st.integers(0, len(content)))
        cut = draw(st.integers(0, 50))
        return content[:at] + draw(st.binary(max_size=20)) + content[at + cut :]
    rng = random.Random(draw(st.integers(0, 2**32)))
    if suffix in {".json", ".jsonl"}:
        lines = content.decode("utf-8").splitlines() if suffix == ".jsonl" else [content.decode("utf-8")]
        index = rng.randrange(len(lines))
        value = json.loads(lines[index])
        value = _replace_somewhere(value, draw(JSON_VALUES), rng, deep=kind == "typed")
        lines[index] = json.dumps(value, ensure_ascii=False)
        return "\n".join(lines).encode("utf-8")
    lines = content.decode("utf-8").split("\n")
    index = rng.randrange(1, max(2, len(lines)))
    cells = lines[min(index, len(lines) - 1)].split("\t" if suffix == ".tsv" else ",")
    cells[rng.randrange(len(cells))] = draw(st.sampled_from(['"', "", "x,y", '""', "\t", "\r", '"a"b', "é"]))
    lines[min(index, len(lines) - 1)] = ("\t" if suffix == ".tsv" else ",").join(cells)
    return "\n".join(lines).encode("utf-8")


def _replace_somewhere(value, new, rng: random.Random, deep: bool):
    """`value` with one element, one field, or the whole thing replaced by `new`."""
    if isinstance(value, list) and value:
        i = rng.randrange(len(value))
        value[i] = _replace_somewhere(value[i], new, rng, deep) if deep and rng.random() < 0.8 else new
        return value
    if isinstance(value, dict) and value:
        key = rng.choice(sorted(value))
        if rng.random() < 0.15:
            del value[key]
            return value
        value[key] = _replace_somewhere(value[key], new, rng, deep) if deep and rng.random() < 0.5 else new
        return value
    return new


@contextmanager
def fake_mirror(name: str, mirror: Path):
    """A temporary mirror with the benchmark's files linked in; yields (root, files present)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        present = []
        for file in benchmark_files(name):
            source = file.mirror_path(mirror)
            if source.exists():
                target = file.mirror_path(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(source, target)
                present.append(file)
        yield root, present


@pytest.mark.parametrize("name", FUZZED)
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "8")), deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_files_give_only_data_errors_naming_the_file(name, mirror, data):
    with fake_mirror(name, mirror) as (root, present):
        assert present, f"{name}: no mirror files"
        file = data.draw(st.sampled_from(present), label="file")
        target = file.mirror_path(root)
        content = Path(os.readlink(target)).read_bytes()
        mutated = data.draw(mutation(content, target.suffix), label="mutation")
        target.unlink()
        target.write_bytes(mutated)
        bench = get_benchmark(name, **OPTIONS.get(name, {}))
        with no_pinned_hashes():
            try:
                load_samples(bench, DataResolver(root, offline=True))
            except RowError as error:
                one_line_error(error, *(str(f.mirror_path(root)) for f in present))
                assert f"row {error.row}" in str(error)
            except DataError as error:
                one_line_error(error, *(str(f.mirror_path(root)) for f in present), *(f.name for f in present))


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")), deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(content=st.binary(max_size=300), reader=st.sampled_from(["csv", "tsv", "jsonl", "json", "key.json", "key.csv"]))
def test_every_row_reader_on_random_bytes_raises_only_data_errors(content, reader):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz.{reader.split('.')[-1]}"
        path.write_bytes(content)
        try:
            if reader in {"csv", "tsv"}:
                csv_rows(path, ("a",), delimiter="\t" if reader == "tsv" else ",", non_empty=("a",))
            elif reader == "jsonl":
                jsonl_rows(path, ("a",))
            elif reader == "json":
                read_json(path)
            else:
                load_key_file(path, ITEMS)
        except DataError as error:
            one_line_error(error, str(path))
