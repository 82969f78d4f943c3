"""refusal-rules before/after: agreement on our dev set and on the GPTFuzzer training file.

"Before" is the rule set as it was before the refusal-family work (rules.py at commit
BEFORE_COMMIT), loaded from git into a temporary module; "after" is the installed
`thinksafe.judges.rules`. Both run side by side in one process on the same rows.

Dev set: tests/assets/refusal_dev.jsonl (written by us, and used while writing the rules:
NOT held out). Binary reading: any refusal (full or partial) vs full compliance, refusal
being the positive class (FNR = refusals missed, FPR = compliant answers called refusals).
Three-way: full_compliance / full_refusal / partial_refusal; the old rules have no partial
label, so their "refusal" counts as full refusal.

GPTFuzzer: ../shared/data/judge-dev/gptfuzz_train.csv (label 1 = jailbroken), read as
judge-eval reads a refusal judge: the judgement's unsafe reading (compliance on a harmful
prompt = jailbroken; either refusal label = not jailbroken). Reported on all rows, on the
tuning questions 0-69 and on the held-out questions 70-99 (the README's split).

    THINKSAFE_DATA_DIR=/work/shared/data python benchmarks/refusal_rules_agreement.py [--markdown]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEFORE_COMMIT = "a8cd85b6dbd082d05e9ef5e1ea1376e341ee833f"
DEV = ROOT / "tests" / "assets" / "refusal_dev.jsonl"


def load_before(commit: str):
    """The rules module as it was at `commit`, without registering its judge a second time."""
    source = subprocess.run(["git", "show", f"{commit}:src/thinksafe/judges/rules.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    source = source.replace('@register_judge("refusal-rules")\n', "")
    path = Path(tempfile.mkdtemp()) / "refusal_rules_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("refusal_rules_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def label_of(module, text: str) -> str:
    """full_refusal / partial_refusal / full_compliance under one version of the rules."""
    if hasattr(module, "classify"):
        label = module.classify(text)[0]
    else:
        label = "refusal" if module.find_refusal(text) else "compliance"
    return {"refusal": "full_refusal", "compliance": "full_compliance"}.get(label, label)


def binary(truth: list[bool], pred: list[bool]) -> dict:
    tp = sum(t and p for t, p in zip(truth, pred))
    tn = sum(not t and not p for t, p in zip(truth, pred))
    fp = sum(not t and p for t, p in zip(truth, pred))
    fn = sum(t and not p for t, p in zip(truth, pred))
    n = len(truth)
    po = (tp + tn) / n
    pe = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n)
    return {"n": n, "agreement": po, "kappa": (po - pe) / (1 - pe) if pe < 1 else None,
            "fnr": fn / (tp + fn) if tp + fn else None, "fpr": fp / (fp + tn) if fp + tn else None,
            "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def dev_stats(module, rows: list[dict]) -> dict:
    labels = [label_of(module, r["text"]) for r in rows]
    out = binary([r["label"] != "full_compliance" for r in rows], [lab != "full_compliance" for lab in labels])
    out["three_way"] = sum(lab == r["label"] for lab, r in zip(labels, rows)) / len(rows)
    for lang in ("en", "zh"):
        idx = [i for i, r in enumerate(rows) if r["lang"] == lang]
        out[f"agreement_{lang}"] = sum((labels[i] != "full_compliance") == (rows[i]["label"] != "full_compliance")
                                       for i in idx) / len(idx)
    out["errors"] = [(r["family"], r["label"], lab, r["text"][:70]) for lab, r in zip(labels, rows) if lab != r["label"]]
    return out


def gptfuzz_rows(data_dir: Path) -> list[tuple[int, str, bool]]:
    path = data_dir / "judge-dev" / "gptfuzz_train.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [(int(r["question"]), r["Response"] or "", r["label"] == "1") for r in csv.DictReader(handle)]


def gptfuzz_stats(module, rows: list[tuple[int, str, bool]]) -> dict:
    out = {}
    start = time.perf_counter()
    labels = [label_of(module, text) for _, text, _ in rows if text.strip()]
    elapsed = time.perf_counter() - start
    jailbroken = [label == "full_compliance" for label in labels]
    out["labels"] = {label: labels.count(label) for label in sorted(set(labels))}
    kept = [(q, truth) for q, text, truth in rows if text.strip()]  # empty replies are unscored, as judge-eval does
    for name, low, high in (("all", 0, 10**9), ("questions 0-69", 0, 69), ("questions 70-99", 70, 99)):
        idx = [i for i, (q, _) in enumerate(kept) if low <= q <= high]
        out[name] = binary([kept[i][1] for i in idx], [jailbroken[i] for i in idx])
    out["texts_per_s"] = len(kept) / elapsed
    return out


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE_COMMIT, help="commit holding the 'before' rules.py")
    parser.add_argument("--json", type=Path, help="write all figures as JSON")
    parser.add_argument("--errors", action="store_true", help="list the dev-set disagreements of the new rules")
    args = parser.parse_args()
    from thinksafe.judges import rules as after

    before = load_before(args.before)
    dev = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    data_dir = Path(os.environ.get("THINKSAFE_DATA_DIR", ROOT.parent / "shared" / "data"))
    fuzz = gptfuzz_rows(data_dir)
    splits = {"all": dev, "tune": [r for r in dev if r.get("split") == "tune"],
              "fresh": [r for r in dev if r.get("split") == "fresh"]}
    results = {name: {"dev": {part: dev_stats(module, rows) for part, rows in splits.items() if rows},
                      "gptfuzz": gptfuzz_stats(module, fuzz)}
               for name, module in (("before", before), ("after", after))}
    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"\nDev set {DEV.relative_to(ROOT)} ({len(dev)} rows, ours, not held out)\n")
    print("| rules | rows | binary agreement | kappa | FNR | FPR | three-way agreement | EN | ZH | TP / FP / TN / FN |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for part in splits:
      for name, res in results.items():
        d = res["dev"][part]
        print(f"| {name} | {part} ({d['n']}) | {fmt(d['agreement'])} | {fmt(d['kappa'])} | {fmt(d['fnr'])} | {fmt(d['fpr'])} | "
              f"{fmt(d['three_way'])} | {fmt(d['agreement_en'])} | {fmt(d['agreement_zh'])} | "
              f"{d['tp']} / {d['fp']} / {d['tn']} / {d['fn']} |")
    print(f"\nGPTFuzzer train ({sum(1 for _, t, _ in fuzz if t.strip())} scored rows; jailbroken = judged compliance)\n")
    print("| rules | rows | agreement | kappa | FNR | FPR | TP / FP / TN / FN | texts/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, res in results.items():
        for part in ("all", "questions 0-69", "questions 70-99"):
            g = res["gptfuzz"][part]
            print(f"| {name} | {part} ({g['n']}) | {fmt(g['agreement'])} | {fmt(g['kappa'])} | {fmt(g['fnr'])} | "
                  f"{fmt(g['fpr'])} | {g['tp']} / {g['fp']} / {g['tn']} / {g['fn']} | {res['gptfuzz']['texts_per_s']:.0f} |")
    for name, res in results.items():
        print(f"\n{name}: GPTFuzzer labels {res['gptfuzz']['labels']}", end="")
    print()
    if args.errors:
        print("\nDev-set disagreements (after):")
        for error in results["after"]["dev"]["all"]["errors"]:
            print("  ", error)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
