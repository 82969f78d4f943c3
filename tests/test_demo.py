"""`thinksafe demo`: a tiny random-weight reasoning model built here, evaluated offline, with a report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thinksafe.cli import app

runner = CliRunner()


def test_the_packaged_template_is_the_test_asset():
    from thinksafe.tiny import R1_TEMPLATE

    asset = Path(__file__).parent / "assets" / "deepseek_r1_distill_chat_template.jinja"
    assert R1_TEMPLATE == asset.read_text(encoding="utf-8")


@pytest.mark.slow
def test_demo_builds_a_model_evaluates_it_and_writes_the_report(tmp_path):
    out = tmp_path / "demo"
    started = time.perf_counter()
    result = runner.invoke(app, ["demo", "--out", str(out), "--data-dir", str(tmp_path / "no-data"), "--no-progress"])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert elapsed < 60, f"the demo took {elapsed:.0f} s"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["benchmark"] == "demo" and summary["n"] == 8 and summary["errors"] == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["id"].split("-")[1] for r in records} == {"en", "zh"} and all(r["error"] is None for r in records)
    assert "<html" in (out / "report.html").read_text(encoding="utf-8").lower()
    assert (out / "model" / "config.json").exists() and not (out / "xstest").exists()  # no XSTest file: demo set only
    assert str(out / "report.html") in result.stdout and "meaningless" in result.stdout


# ---------------------------------------------------------------- first contact with a real model id


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_hub_is_said_at_once_with_the_download_command(monkeypatch):
    from thinksafe.models.base import ModelLoadError
    from thinksafe.models.hf import load_hf

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    started = time.perf_counter()
    with pytest.raises(ModelLoadError) as raised:
        load_hf("nobody-here/no-such-model")
    assert time.perf_counter() - started < 10
    message = str(raised.value)
    assert "is not reachable" in message and "hf download nobody-here/no-such-model --local-dir DIR" in message
    assert "huggingface-cli" not in message


def test_offline_mode_and_missing_paths_are_named(monkeypatch, tmp_path):
    from thinksafe.models.base import ModelLoadError
    from thinksafe.models.hf import load_hf

    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE is set and the model is not in the local Hugging Face cache"):
        load_hf("nobody-here/no-such-model")  # the tests run with HF_HUB_OFFLINE=1
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_hf(str(tmp_path / "no" / "model"))
