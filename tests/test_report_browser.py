"""The report in a real headless Chromium: data stays inert, filters from the URL fragment, 20,000 items page."""

from __future__ import annotations

import json
import os
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from test_report import HOSTILE, ZH_PROMPT, make_run

CHROMIUM = os.environ.get("THINKSAFE_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists() and os.environ.get("THINKSAFE_REQUIRE_BROWSER"):
    raise RuntimeError(f"{CHROMIUM} is absent and THINKSAFE_REQUIRE_BROWSER is set (CI installs Debian's chromium)")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} is absent (install Debian's `chromium` package to run browser tests)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium(tmp_path: Path, url: str, *extra: str, timeout: float = 120) -> str:
    """Run headless Chromium once on `url`; stdout (the dumped DOM for --dump-dom)."""
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, url],
                          capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    assert not errors, errors  # the page's script ran to the end
    return done.stdout


class Dom(HTMLParser):
    """Ids, the page title and the rendered items of a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.items: list[dict[str, str | None]] = []
        self.list_attrs: dict[str, str | None] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "li" and found.get("class") == "item":
            self.items.append(found)
        if found.get("id") == "item-list":
            self.list_attrs = found
        self._in_title = tag == "title" and not self.title  # the page's own, not an SVG <title>

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def dump(tmp_path: Path, page: Path, fragment: str = "", timeout: float = 120) -> Dom:
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    dom = Dom()
    dom.feed(chromium(tmp_path, url, "--dump-dom", timeout=timeout))
    return dom


@pytest.fixture()
def report(tmp_path: Path) -> Path:
    from thinksafe.report.html import write_report
    from thinksafe.report.runs import load_runs

    runs = load_runs([make_run(tmp_path / "a", "model-a", n=120), make_run(tmp_path / "b", "model-b", n=30, seed=1)])
    return write_report(runs, tmp_path / "report.html", title="toy report")


def test_hostile_data_stays_inert_and_page_one_renders(report: Path, tmp_path: Path) -> None:
    dom = dump(tmp_path, report)
    assert "pwned" not in dom.ids and dom.title == "toy report"
    assert len(dom.items) == 50 and dom.list_attrs.get("data-matching") == "150"
    assert dom.list_attrs.get("data-page") == "1"
    assert {"item-list", "pager-top", "f-q"} <= dom.ids


def test_fragment_filters_search_chinese(report: Path, tmp_path: Path) -> None:
    dom = dump(tmp_path, report, "q=" + quote("制造炸弹") + "&model=model-b")
    want = {f"q{i}" for i in range(30) if i % 3 == 0 and i % 5}
    assert ZH_PROMPT.find("制造炸弹") >= 0 and {item["data-id"] for item in dom.items} == want
    assert all(str(item["data-key"]).startswith("model-b|") for item in dom.items)


def test_fragment_filters_channel_verdict_category_attack(report: Path, tmp_path: Path) -> None:
    dom = dump(tmp_path, report, "channel=reasoning&verdict=unsafe&bench=toy&model=model-a&page=2")
    want = [f"q{i}" for i in range(120) if i % 2 == 0 and i != 7]
    assert [item["data-id"] for item in dom.items] == want[50:100] and dom.list_attrs.get("data-page") == "2"
    dom = dump(tmp_path, report, "category=" + quote("暴力") + "&attack=none&model=model-a")
    assert [item["data-id"] for item in dom.items] == [f"q{i}" for i in range(120) if i % 2][:50]
    dom = dump(tmp_path, report, "category=privacy&attack=roleplay")  # both models
    assert [item["data-id"] for item in dom.items] == [f"q{i}" for n in (120, 30) for i in range(n) if i % 20 and i % 4 == 0][:50]
    dom = dump(tmp_path, report, "q=" + quote(HOSTILE[:30]) + "&channel=reasoning&label=(none)")
    assert dom.items == [] and "pwned" not in dom.ids


def test_screenshot_is_nontrivial(report: Path, tmp_path: Path) -> None:
    png = Path(os.environ.get("THINKSAFE_REPORT_SCREENSHOT", tmp_path / "report.png"))
    chromium(tmp_path, report.resolve().as_uri(), f"--screenshot={png}", "--window-size=1280,2000", "--hide-scrollbars")
    assert png.exists() and png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_twenty_thousand_items_load_paged(tmp_path: Path) -> None:
    from thinksafe.report.html import write_report
    from thinksafe.report.runs import load_runs

    run = make_run(tmp_path / "small", "big-model", n=10)
    template = json.loads((run / "results.jsonl").read_text(encoding="utf-8").split("\n")[1])
    with (run / "results.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(20_000):
            record = dict(template, id=f"item{i}", prompt=f"问题 {i}: " + "lorem ipsum " * 20,
                          answer=("</script><script>document.title='pwned'</script>" if i % 997 == 0 else "answer ") * 8)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    page = write_report(load_runs([run]), tmp_path / "big.html", title="big")
    started = time.monotonic()
    dom = dump(tmp_path, page, timeout=180)
    elapsed = time.monotonic() - started
    assert dom.list_attrs.get("data-matching") == "20000" and len(dom.items) == 50, elapsed
    assert [item["data-id"] for item in dom.items] == [f"item{i}" for i in range(50)]
    assert dom.title == "big" and "pwned" not in dom.ids
    dom = dump(tmp_path, page, "q=" + quote("问题 19999:"), timeout=180)
    assert [item["data-id"] for item in dom.items] == ["item19999"]
