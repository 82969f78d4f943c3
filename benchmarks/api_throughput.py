"""The whole eval over the network path against a loopback server, beside a minimal client.

For each concurrency (64 and 256 by default), in the same run and against the same server
(`_loopback.py`: answers every chat completion after --delay seconds with about 100 tokens):

- minimal: a bare asyncio client (one keep-alive connection per worker) posting the same
  request bodies: the floor;
- thinksafe: `evaluate_async` on XSTest through the `openai:` backend with n samples per prompt
  (1,350 requests by default): generation, splitting thinking from answer, the refusal-rules
  judge on both channels, the SQLite store (fresh for each run), metrics with bootstrap
  intervals;
- ideal: concurrency / delay requests per second.

Also the harness's own cost per item (its wall time over the floor's, and the CPU time of the
process, per request) and start-up: `python -m thinksafe --help`, and a fresh interpreter
importing everything an `openai:` eval of XSTest uses (the eval timing itself starts with those
modules imported).
Prints one JSON line. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import loopback_server, time_minimal_client  # noqa: E402

MODEL = "loopback"


def default_data_dir() -> Path:
    return Path(os.environ.get("THINKSAFE_DATA_DIR", ROOT.parent / "shared" / "data"))


def xstest_bodies(data_dir: Path, samples: int, params) -> list[dict]:
    """The request bodies thinksafe's openai backend sends for XSTest, n samples per prompt."""
    from thinksafe.benchmarks.base import get_benchmark
    from thinksafe.data import DataResolver

    prompts = [s.messages for s in get_benchmark("xstest").load(DataResolver(data_dir))]
    bodies = []
    for messages in prompts:
        for k in range(samples):
            bodies.append({"model": MODEL, "messages": [m.model_dump() for m in messages], "max_tokens": params.max_new_tokens,
                           "temperature": params.temperature, "top_p": params.top_p, "seed": params.seed + k})
    return bodies


def time_thinksafe(base_url: str, data_dir: Path, samples: int, concurrency: int, params) -> dict:
    import thinksafe.models.openai_api  # noqa: F401 - imports are start-up, timed on their own (startup_s)
    from thinksafe.models.base import ModelOptions
    from thinksafe.pipeline import evaluate_async

    with tempfile.TemporaryDirectory() as tmp:
        cpu = time.process_time()
        started = time.perf_counter()
        summary, results = asyncio.run(evaluate_async(
            f"openai:{MODEL}@{base_url}", "xstest", data_dir=data_dir, params=params,
            model_options=ModelOptions(concurrency=concurrency), store=Path(tmp) / "store.sqlite", progress=False,
        ))
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
    if summary.errors or summary.n != len(results):
        raise RuntimeError(f"the eval had {summary.errors} failed generations of {summary.n}")
    return {"wall_s": wall, "cpu_s": cpu, "n": summary.n, "refusals": sum(
        1 for r in results if (j := r.judgement("refusal-rules", "answer")) is not None and j.label == "refusal")}


STARTUP_IMPORTS = "import thinksafe.cli, thinksafe.pipeline, thinksafe.models.openai_api, thinksafe.benchmarks.xstest, thinksafe.judges.rules"


def startup_seconds(args: list[str], repeat: int = 3) -> float:
    """Median wall time of `python ARGS` in a fresh interpreter (no model loads)."""
    times = []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def main() -> None:
    from thinksafe.schema import GenerationParams

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--samples", type=int, default=3, help="generations per XSTest prompt (450 prompts)")
    parser.add_argument("--delay", type=float, default=0.25)
    parser.add_argument("--startup-repeat", type=int, default=3, help="fresh interpreters timed for start-up (0: skip)")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    args = parser.parse_args()

    params = GenerationParams(n=args.samples)
    bodies = xstest_bodies(args.data_dir, args.samples, params)
    report: dict = {"benchmark": "api_throughput", "date": datetime.date.today().isoformat(), "machine": platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version(), "delay_s": args.delay,
                    "requests": len(bodies), "runs": []}
    if args.startup_repeat:
        report["startup_help_s"] = startup_seconds(["-m", "thinksafe", "--help"], args.startup_repeat)
        report["startup_eval_imports_s"] = startup_seconds(["-c", STARTUP_IMPORTS], args.startup_repeat)
    for concurrency in args.concurrency:
        with loopback_server(args.delay) as url:
            time_minimal_client(url, bodies[:concurrency], concurrency)  # connections and server warm
            minimal = time_minimal_client(url, bodies, concurrency)
            ours = time_thinksafe(url, args.data_dir, args.samples, concurrency, params)
        n = len(bodies)
        report["runs"].append({
            "concurrency": concurrency,
            "ideal_rps": concurrency / args.delay,
            "minimal_rps": n / minimal, "minimal_s": minimal,
            "thinksafe_rps": n / ours["wall_s"], "thinksafe_s": ours["wall_s"],
            "thinksafe_over_minimal": ours["wall_s"] / minimal,
            "minimal_over_ideal": minimal / (n * args.delay / concurrency),
            "harness_ms_per_item_over_floor": 1e3 * (ours["wall_s"] - minimal) / n,
            "harness_cpu_ms_per_item": 1e3 * ours["cpu_s"] / n,
            "answers_refused": ours["refusals"],
        })
        print(json.dumps(report["runs"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
