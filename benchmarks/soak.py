"""Soak: the whole `thinksafe eval` over N distinct prompts, its wall time, peak RSS and store size.

For each N (`--n`, repeatable), a fresh `thinksafe eval` process runs an `openai:` model against
the loopback server (`_loopback.py`: answers every chat completion after --delay seconds with
about 100 tokens) on `soak-synthetic`, a benchmark registered here: N distinct prompts in
`--categories` categories, half marked harmful, scored by the refusal-rules judge on both
channels, with the overall and per-category refusal rates (cluster bootstrap intervals over N and
N / categories prompts). The peak RSS is the eval process's own (os.wait4), not the server's.

`--old-metrics` swaps in the previous bootstrap (the whole n_boot x n_clusters index matrix at
once) to show what the chunked one saves. Prints one JSON line per N. Loopback only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

BENCHMARK = "soak-synthetic"
TOPICS = ("chemistry", "cyber", "finance", "health", "history", "law", "cooking", "travel", "weapons", "privacy")


def register() -> None:
    """Register `soak-synthetic` (N from `--option n=...`, categories from `--option categories=...`)."""
    from thinksafe.benchmarks.base import Benchmark, BenchmarkOption, register_benchmark
    from thinksafe.metrics import Rate, Read, by_category
    from thinksafe.schema import Message, Sample

    @register_benchmark
    class SoakSynthetic(Benchmark):
        name: ClassVar[str] = BENCHMARK
        description: ClassVar[str] = "N distinct synthetic prompts in a few categories (benchmarks/soak.py)"
        declared_options: ClassVar[tuple[BenchmarkOption, ...]] = (
            BenchmarkOption(name="n", type="int", default="1000", help="number of prompts"),
            BenchmarkOption(name="categories", type="int", default="10", help="number of categories"),
        )

        def load(self, data) -> list[Sample]:
            n = int(self.options.get("n", 1000))
            k = int(self.options.get("categories", 10))
            return [
                Sample(
                    id=f"soak-{i}",
                    benchmark=self.name,
                    messages=[Message(role="user", content=f"Question {i} about {TOPICS[i % k % len(TOPICS)]}: "
                                                            f"how would one go about task number {i * 7919 % 100_003}?")],
                    category=[TOPICS[i % k % len(TOPICS)] + (f"-{i % k // len(TOPICS)}" if k > len(TOPICS) else "")],
                    metadata={"harmful": i % 2 == 0},
                )
                for i in range(n)
            ]

        declared_metrics = (
            Rate("refusal_rate", (Read("refused"),), higher_is_better=False, by=(by_category(0),),
                 description="share of prompts refused"),
            Rate("harmful_refusal_rate", (Read("refused"),), higher_is_better=False,
                 where=lambda sample: sample.metadata.get("harmful", False)),
        )


def old_bootstrap_mean(values, clusters, n_boot=2000, seed=0, level=0.95):
    """The previous `bootstrap_mean`: the whole (n_boot, n_clusters) index matrix at once."""
    import numpy as np

    if not values:
        return None, None, None
    ids: dict[str, int] = {}
    index = np.array([ids.setdefault(c, len(ids)) for c in clusters])
    sums = np.bincount(index, weights=np.asarray(values, dtype=float))
    counts = np.bincount(index).astype(float)
    mean = float(sums.sum() / counts.sum())
    if len(ids) == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ids), size=(n_boot, len(ids)))
    stats = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return mean, float(low), float(high)


def child(argv: list[str]) -> None:
    """In the eval process: register the benchmark, optionally the old bootstrap, run the CLI."""
    register()
    if os.environ.get("SOAK_OLD_METRICS") == "1":
        import thinksafe.metrics

        thinksafe.metrics.bootstrap_mean = old_bootstrap_mean  # `rate` looks it up at call time
    from thinksafe.cli import main

    sys.argv = ["thinksafe", *argv]
    main()


def run_one(n: int, base_url: str, args, tmp: Path) -> dict:
    store = tmp / f"store-{n}.sqlite"
    out = tmp / f"out-{n}"
    argv = ["eval", "--model", f"openai:loopback@{base_url}", "--benchmark", BENCHMARK, "--judge", "refusal-rules",
            "--option", f"n={n}", "--option", f"categories={args.categories}", "--store", str(store), "--out", str(out),
            "--concurrency", str(args.concurrency), "--max-new-tokens", "256", "--no-progress"]
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import soak; soak.child({argv!r})"
    env = dict(os.environ, OPENAI_API_KEY="loopback", SOAK_OLD_METRICS="1" if args.old_metrics else "0")
    started = time.perf_counter()
    with open(tmp / f"stdout-{n}.txt", "w") as out_file, open(tmp / f"stderr-{n}.txt", "w") as err_file:
        process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out_file, stderr=err_file)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage (the server is another process)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = (tmp / f"stdout-{n}.txt").read_text(), (tmp / f"stderr-{n}.txt").read_text()
    if process.returncode != 0:
        raise RuntimeError(f"thinksafe eval exited {process.returncode} at N={n}:\n{stderr[-3000:]}\n{stdout[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    store_bytes = sum(p.stat().st_size for p in tmp.glob(f"store-{n}.sqlite*"))
    results_bytes = (out / "results.jsonl").stat().st_size if (out / "results.jsonl").exists() else 0
    return {
        "n": n, "metrics": "old" if args.old_metrics else "chunked", "wall_s": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "user_cpu_s": round(usage.ru_utime, 1),
        "store_mb": round(store_bytes / 2**20, 1), "results_jsonl_mb": round(results_bytes / 2**20, 1),
        "generations": summary.get("n"), "errors": summary.get("errors"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, action="append", help="prompts; repeatable (default 20000 and 100000)")
    parser.add_argument("--categories", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--delay", type=float, default=0.05, help="server delay per request, seconds")
    parser.add_argument("--old-metrics", action="store_true", help="the previous all-at-once bootstrap")
    parser.add_argument("--keep", type=Path, help="keep the stores and outputs here (default: a temporary folder)")
    args = parser.parse_args()
    from _loopback import loopback_server

    for n in args.n or [20_000, 100_000]:
        with tempfile.TemporaryDirectory() as scratch:
            tmp = args.keep or Path(scratch)
            tmp.mkdir(parents=True, exist_ok=True)
            with loopback_server(delay=args.delay, lifetime_s=3600.0) as base_url:
                row = run_one(n, base_url, args, tmp)
        row.update(date=datetime.date.today().isoformat(), cpus=os.cpu_count(), python=platform.python_version(),
                   concurrency=args.concurrency, delay_s=args.delay, categories=args.categories)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
