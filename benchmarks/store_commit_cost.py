"""What committing every finished call costs, against batched commits, in one run side by side.

The store commits each generation and judgement as it is put (WAL, synchronous=NORMAL), so a
kill -9 loses no finished call. This times N puts of ~1 KB completions (one generation and its two
judgements each, as the pipeline writes them: the generation when its call finishes, both
judgements in one commit) with a commit per put and with commits every 1,024 puts, alternating the two
for `--rounds` rounds, and prints one JSON line with microseconds per completion and the ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from thinksafe.schema import Completion, Judgement  # noqa: E402
from thinksafe.store import Store  # noqa: E402


def run(path: Path, n: int, batch_size: int) -> float:
    """Seconds for n completions (one generation and two judgements each), closed at the end."""
    store = Store(path, batch_size=batch_size, max_delay_s=3600 if batch_size > 1 else 0.0)
    completion = Completion(text="x" * 700, reasoning="x" * 700, answer="y" * 300)
    judgement = Judgement(judge="refusal-rules", channel="answer", label="refusal")
    started = time.perf_counter()
    for i in range(n):
        store.put_generation(f"g{i}", "openai:m@http://127.0.0.1", completion)
        store.put_judgements([(f"a{i}", f"g{i}", judgement), (f"r{i}", f"g{i}", judgement)])
    store.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"per_call": [], "batched_1024": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name, batch in (("per_call", 1), ("batched_1024", 1024)):
                times[name].append(run(Path(tmp) / f"{name}-{round_}.sqlite", args.n, batch))
    best = {name: min(values) for name, values in times.items()}
    print(json.dumps({
        "n_completions": args.n, "rounds": args.rounds, "python": platform.python_version(),
        "us_per_completion": {name: round(1e6 * t / args.n, 1) for name, t in best.items()},
        "completions_per_s": {name: round(args.n / t) for name, t in best.items()},
        "per_call_over_batched": round(best["per_call"] / best["batched_1024"], 2),
    }))


if __name__ == "__main__":
    main()
