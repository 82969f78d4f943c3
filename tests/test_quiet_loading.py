"""An hf model loaded while thinksafe's rich progress bar is live prints no tqdm bars of its own.

transformers and huggingface_hub draw tqdm bars while a model loads ("Loading weights",
"Loading checkpoint shards", downloads); under rich's live display they garble our bar.
`load_hf` turns them off for the load when a live display holds the terminal. The check runs
the CLI in a pseudo-terminal (rich draws its live bar only on a terminal).
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

# tqdm's bar: "Loading weights: 100%|██████████| 26/26 [00:00<00:00, 29926.43it/s]"
TQDM_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+\s*\[|it/s\]|s/it\]")
THIRD_PARTY = ("Loading weights", "Loading checkpoint shards", "Fetching ", "Downloading")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# The CLI with every tqdm bar that is created enabled written down (rich may swallow a bar's text
# and leave only blank lines, so the output alone does not show every bar that drew).
SPY = """
import os, sys
import tqdm.std
_init = tqdm.std.tqdm.__init__
def _spy(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    if not self.disable:
        with open(os.environ["THINKSAFE_TEST_BARS"], "a", encoding="utf-8") as log:
            log.write(f"{self.desc}\\n")
tqdm.std.tqdm.__init__ = _spy
sys.argv[0] = "thinksafe"
from thinksafe.cli import main
main()
"""


def _run_in_pty(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run with stderr (where rich's bar goes) on a pseudo-terminal; everything it printed there."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    reader.start()
    try:
        assert process.wait(timeout=timeout) == 0, b"".join(chunks).decode("utf-8", "replace")[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_hf_loading_bars_stay_out_of_the_live_progress_bar(tiny_r1_model: Path, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items()
           if key not in ("NO_COLOR", "TERM", "COLUMNS", "HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE")}
    bars = tmp_path / "bars.txt"
    env.update(TERM="xterm-256color", COLUMNS="120", THINKSAFE_STORE=str(tmp_path / "store.sqlite"),
               THINKSAFE_TEST_BARS=str(bars))
    out = tmp_path / "run"
    text = _run_in_pty([sys.executable, "-c", SPY, "eval", "--model", f"hf:{tiny_r1_model}",
                        "--benchmark", "demo", "--limit", "2", "--max-new-tokens", "4", "--temperature", "0",
                        "--progress", "--out", str(out)], env)
    plain = ANSI.sub("", text)
    assert "generating demo" in plain, plain[-2000:]  # our bar was live
    assert "loading " in plain and "bars are hidden" in plain  # the one line said instead
    for mark in THIRD_PARTY:
        assert mark not in plain, (mark, plain[-3000:])
    assert not TQDM_BAR.search(plain), plain[-3000:]
    assert not bars.exists(), bars.read_text(encoding="utf-8")  # no third-party bar drew at all
    assert (out / "summary.json").exists()


def test_loading_bars_are_restored_after_the_load(tiny_r1_model: Path) -> None:
    """Outside a live display nothing is changed; inside one, the bars' state is put back after the load."""
    import io

    from huggingface_hub import utils as hub_utils
    from rich.console import Console
    from rich.progress import Progress
    from transformers.utils import logging as hf_logging

    from thinksafe.models.hf import load_hf

    before = (hf_logging.is_progress_bar_enabled(), hub_utils.are_progress_bars_disabled())
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=200)
    with Progress(console=terminal, redirect_stderr=True, redirect_stdout=True) as progress:
        progress.add_task("x", total=1)
        load_hf(str(tiny_r1_model), device="cpu")
    assert "bars are hidden" in screen.getvalue()  # it did load in quiet mode
    assert (hf_logging.is_progress_bar_enabled(), hub_utils.are_progress_bars_disabled()) == before
