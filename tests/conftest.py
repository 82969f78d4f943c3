"""Offline fixtures: the data mirror, a private cache and store, tiny models, a loopback server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# ---------------------------------------------------------------- benchmark data for the tests
# The mirror at THINKSAFE_DATA_DIR (default ../shared/data) when it is there (CI: nothing is skipped);
# else the user cache when `thinksafe data fetch` filled it; else tests that need benchmark files
# are skipped, and one line at the end of the run says how many and why.
SHARED_MIRROR = Path(os.environ.get("THINKSAFE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
USER_CACHE = Path(os.environ.get("THINKSAFE_CACHE", Path.home() / ".cache" / "thinksafe"))  # read before tests change it
PROBE = Path("xstest") / "xstest_prompts.csv"  # a file every mirror has
HAVE_MIRROR = (SHARED_MIRROR / PROBE).exists()
MIRROR = SHARED_MIRROR if HAVE_MIRROR or not (USER_CACHE / PROBE).exists() else USER_CACHE
HAVE_DATA = (MIRROR / PROBE).exists()
NO_DATA_REASON = (
    f"benchmark data missing: no mirror at {SHARED_MIRROR} (set THINKSAFE_DATA_DIR) and "
    + (f"the file is not among those `thinksafe data fetch` put in {USER_CACHE}" if HAVE_DATA
       else f"no files in {USER_CACHE} (run `thinksafe data fetch`)")
)
# text in a failure that means "a benchmark file was not found", from DataResolver or the CLI's message
MISSING_FILE_MARKS = ("offline mode is on", str(SHARED_MIRROR), str(MIRROR))
_skipped_for_data: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_data: reads benchmark files from the mirror (skipped without one)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "mirror" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.needs_data)
            if not HAVE_DATA:
                item.add_marker(pytest.mark.skip(reason=NO_DATA_REASON))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Without the mirror only: a failure caused by a missing benchmark file becomes a skip."""
    report = yield
    if report.skipped and any(m.name == "needs_data" for m in item.iter_markers()) and not HAVE_DATA:
        if report.when == "setup":
            _skipped_for_data.append(item.nodeid)
    elif not HAVE_MIRROR and report.failed and call.excinfo is not None:
        text = str(report.longrepr)
        if any(mark in text for mark in MISSING_FILE_MARKS):
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {NO_DATA_REASON}")
            _skipped_for_data.append(item.nodeid)
    return report


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _skipped_for_data:
        count = len(dict.fromkeys(_skipped_for_data))
        terminalreporter.write_line(f"{count} tests skipped: {NO_DATA_REASON}", yellow=True)
    elif not HAVE_MIRROR and HAVE_DATA:
        terminalreporter.write_line(f"benchmark data read from the user cache {MIRROR} (no mirror at {SHARED_MIRROR})")


@pytest.fixture(autouse=True)
def _offline_env(tmp_path, monkeypatch):
    monkeypatch.setenv("THINKSAFE_DATA_DIR", str(MIRROR))
    monkeypatch.setenv("THINKSAFE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("THINKSAFE_STORE", str(tmp_path / "store.sqlite"))
    monkeypatch.setenv("THINKSAFE_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not (MIRROR / "xstest" / "xstest_prompts.csv").exists():
        pytest.skip(NO_DATA_REASON)
    return MIRROR


@pytest.fixture(scope="session")
def tiny_r1_model(tmp_path_factory) -> Path:
    """Random weights, a locally trained tokenizer, and the real R1-distill chat template."""
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-r1"))


@pytest.fixture(scope="session")
def tiny_plain_model(tmp_path_factory) -> Path:
    """Random weights and a chat template that does not open thinking."""
    from tiny_model import PLAIN_TEMPLATE, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-plain"), template=PLAIN_TEMPLATE, seed=1)
