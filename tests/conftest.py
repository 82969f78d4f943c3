"""Offline fixtures: the data mirror, a private cache and store, tiny models, a loopback server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

MIRROR = Path(os.environ.get("THINKSAFE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


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
        pytest.fail(f"the benchmark data mirror is missing at {MIRROR}; set THINKSAFE_DATA_DIR")
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
