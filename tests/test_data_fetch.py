"""`thinksafe data fetch` / `data status` and the all-at-once missing-files error, against a loopback
HTTP server that serves files at upstream-shaped URLs (toy benchmarks pin them, with real sha256s)."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from thinksafe.benchmarks import base
from thinksafe.cli import app
from thinksafe.data import DataError, DataFile, DataResolver
from thinksafe.fetch import check_data_present, downloadable, missing_files, needs_of, source_url

runner = CliRunner()
GOOD_A = b"id,prompt\n1,hello\n"
GOOD_B = b'{"items": [1, 2, 3]}\n'
GOOD_C = b"id,prompt\n1,upstream\n"
SERVED_C = b"id,prompt\n1,tampered\n"  # what the server gives for C: not the pinned bytes


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class Site:
    """A loopback server over `root`; `requests` lists the paths asked for."""

    def __init__(self, root: Path):
        self.root, self.requests = root, []
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(site.root), **kwargs)

            def do_GET(self):  # noqa: N802 - http.server's name
                site.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def put(self, path: str, content: bytes) -> str:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return f"{self.url}/{path}"


@pytest.fixture
def site(tmp_path):
    served = Site(tmp_path / "site")
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def toys(site):
    """Benchmarks `fetchtoy` (A, B) and `fetchtoy-bad` (C, served corrupted), and suite `fetchtoy-suite`;
    their URLs are upstream-shaped paths on the loopback server. Unregistered afterwards."""
    url_a = site.put("raw/owner/repo/0123abc/data/a.csv", GOOD_A)
    url_b = site.put("raw/owner/repo/0123abc/data/b.json", GOOD_B)
    url_c = site.put("raw/other/repo/4567def/c.csv", SERVED_C)
    pinned = {
        "a": DataFile(benchmark="fetchtoy", name="a.csv", url=url_a, sha256=sha(GOOD_A)),
        "b": DataFile(benchmark="fetchtoy", name="b.json", url=url_b, sha256=sha(GOOD_B)),
        "c": DataFile(benchmark="fetchtoy-bad", name="c.csv", url=url_c, sha256=sha(GOOD_C)),
    }

    class Toy(base.Benchmark):
        name: ClassVar[str] = "fetchtoy"
        files: ClassVar[tuple[DataFile, ...]] = (pinned["a"], pinned["b"])

        def load(self, data):
            return []

        def metrics(self, results, judge, channel):
            return []

    class BadToy(Toy):
        name: ClassVar[str] = "fetchtoy-bad"
        files: ClassVar[tuple[DataFile, ...]] = (pinned["c"],)

    class ToySuite(base.Suite):
        name: ClassVar[str] = "fetchtoy-suite"
        members: ClassVar[tuple[str, ...]] = ("fetchtoy", "fetchtoy-bad")

    base.benchmark_names()  # the built-ins first, so ours are the last added
    base.register_benchmark(Toy)
    base.register_benchmark(BadToy)
    base.register_suite(ToySuite)
    yield pinned
    base._BENCHMARKS.pop("fetchtoy", None)
    base._BENCHMARKS.pop("fetchtoy-bad", None)
    base._SUITES.pop("fetchtoy-suite", None)


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.name.endswith(".part")]


def test_fetch_downloads_verifies_refuses_a_corrupt_file_and_skips_what_is_there(site, toys, tmp_path):
    to = tmp_path / "data"
    result = runner.invoke(app, ["data", "fetch", "--benchmark", "fetchtoy-suite", "--to", str(to), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert (to / "fetchtoy" / "a.csv").read_bytes() == GOOD_A
    assert (to / "fetchtoy" / "b.json").read_bytes() == GOOD_B
    assert not (to / "fetchtoy-bad" / "c.csv").exists() and not leftovers(to)  # refused: deleted, not kept
    assert "note: THINKSAFE_OFFLINE=1" in result.stderr  # the tests run offline; fetch says it downloads anyway
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "fetchtoy-bad/c.csv" in errors[0] and "sha256" in errors[0] and "refused" in errors[0]
    assert "2 fetched, 0 already present, 1 failed" in result.stdout
    assert len(site.requests) == 3

    again = runner.invoke(app, ["data", "fetch", "--benchmark", "fetchtoy", "--to", str(to), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert "0 fetched, 2 already present, 0 failed" in again.stdout
    assert len(site.requests) == 3  # nothing downloaded twice

    (to / "fetchtoy" / "a.csv").write_bytes(b"stale copy")  # a wrong copy is replaced
    fixed = runner.invoke(app, ["data", "fetch", "--benchmark", "fetchtoy", "--to", str(to), "--no-progress"])
    assert fixed.exit_code == 0 and (to / "fetchtoy" / "a.csv").read_bytes() == GOOD_A


def test_fetch_defaults_to_the_cache_the_resolver_reads_and_takes_a_web_mirror(site, toys, tmp_path):
    site.put("mirror/fetchtoy-bad/c.csv", GOOD_C)  # a web mirror laid out as <benchmark>/<file>
    result = runner.invoke(app, ["data", "fetch", "--benchmark", "fetchtoy-bad", "--mirror-url", f"{site.url}/mirror/"])
    assert result.exit_code == 0, result.output
    cached = Path(os.environ["THINKSAFE_CACHE"]) / "fetchtoy-bad" / "c.csv"
    assert cached.read_bytes() == GOOD_C and site.requests == ["/mirror/fetchtoy-bad/c.csv"]
    assert DataResolver(tmp_path / "no-mirror", offline=True).path(toys["c"]) == cached


def test_unreachable_server_fails_per_file_and_exits_1(toys, tmp_path):
    result = runner.invoke(app, ["data", "fetch", "--benchmark", "fetchtoy", "--to", str(tmp_path / "d"),
                                 "--mirror-url", f"http://127.0.0.1:{closed_port()}", "--timeout", "2", "--no-progress"])
    assert result.exit_code == 1
    assert result.stderr.count("error: ") == 2 and "fetchtoy/a.csv" in result.stderr and "fetchtoy/b.json" in result.stderr
    unknown = runner.invoke(app, ["data", "fetch", "--benchmark", "no-such-benchmark"])
    assert unknown.exit_code == 2 and "no-such-benchmark" in unknown.stderr


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_status_lists_present_missing_and_bad_files_one_unwrapped_line_each(toys, tmp_path):
    data = tmp_path / "mirror"
    (data / "fetchtoy").mkdir(parents=True)
    (data / "fetchtoy" / "a.csv").write_bytes(GOOD_A)
    (data / "fetchtoy-bad").mkdir()
    (data / "fetchtoy-bad" / "c.csv").write_bytes(SERVED_C)
    result = runner.invoke(app, ["data", "status", "--benchmark", "fetchtoy-suite", "--data-dir", str(data)])
    assert result.exit_code == 1, result.output  # a needed file is missing
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout
    assert lines[0].split()[:3] == ["present", "fetchtoy/a.csv", str(data / "fetchtoy" / "a.csv")]
    assert lines[1].split()[:2] == ["missing", "fetchtoy/b.json"] and toys["b"].url in lines[1]
    assert lines[2].split()[:3] == ["bad-sha256", "fetchtoy-bad/c.csv", str(data / "fetchtoy-bad" / "c.csv")]


def test_status_lines_stay_whole_in_a_narrow_terminal(tmp_path):
    env = {**os.environ, "COLUMNS": "40", "THINKSAFE_DATA_DIR": str(tmp_path / "empty")}
    done = subprocess.run([sys.executable, "-m", "thinksafe", "data", "status", "--benchmark", "xstest"],
                          capture_output=True, text=True, env=env, timeout=120)
    from thinksafe.benchmarks.xstest import XSTEST_CSV

    lines = done.stdout.splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stdout + done.stderr
    assert lines[0].startswith("missing ") and lines[0].endswith(XSTEST_CSV.url) and len(lines[0]) > 40


def test_missing_files_are_reported_all_at_once_with_paths_urls_and_the_fetch_command(toys, tmp_path):
    with pytest.raises(DataError) as raised:
        check_data_present("fetchtoy-suite", tmp_path / "mirror", offline=True)
    lines = str(raised.value).splitlines()
    assert lines[0].startswith("3 data file(s) needed by fetchtoy-suite are missing")
    for file, line in zip(toys.values(), lines[1:4]):
        assert f"{file.benchmark}/{file.name}" in line and str(tmp_path / "mirror" / file.benchmark / file.name) in line
        assert file.url in line
    assert lines[-1] == f"fetch them with: thinksafe data fetch --benchmark fetchtoy-suite --to {tmp_path / 'mirror'}"
    check_data_present("demo", tmp_path / "mirror", offline=True)  # a benchmark without files: nothing to say


def test_online_the_check_downloads_and_names_only_what_it_could_not_get(toys, tmp_path):
    with pytest.raises(DataError) as raised:
        check_data_present("fetchtoy-suite", tmp_path / "mirror", offline=False)
    message = str(raised.value)
    assert message.startswith("1 data file(s)") and "fetchtoy-bad/c.csv" in message and "fetchtoy/a.csv" not in message
    assert (Path(os.environ["THINKSAFE_CACHE"]) / "fetchtoy" / "a.csv").read_bytes() == GOOD_A
    check_data_present("fetchtoy", tmp_path / "mirror", offline=True)  # now in the cache


def test_only_required_files_count(tmp_path):
    from thinksafe.benchmarks.base import get_benchmark
    from thinksafe.benchmarks.harmbench import SPLITS
    from thinksafe.benchmarks.jailbreakbench import JBB_MIRROR_CSV, JBB_OFFICIAL_CSV

    resolver = DataResolver(tmp_path / "empty", offline=True)
    assert missing_files([get_benchmark("harmbench", split="val")], resolver) == [SPLITS["val"]]
    assert needs_of(get_benchmark("jailbreakbench"))[0].choices == (JBB_MIRROR_CSV, JBB_OFFICIAL_CSV)
    assert missing_files([get_benchmark("jailbreakbench")], resolver) == [JBB_OFFICIAL_CSV]  # the one that downloads
    assert not downloadable(JBB_MIRROR_CSV)  # a derived copy: its URL is the source artifact, not the file
    assert source_url(JBB_MIRROR_CSV, "http://m/") == "http://m/jailbreakbench/jbb_behaviors_harmful_100.csv"
