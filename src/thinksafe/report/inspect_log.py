"""Write a run folder as an Inspect AI eval log (the JSON log format, version 2).

The log is built from plain dicts that follow inspect_ai's `EvalLog` schema, so thinksafe does not
depend on inspect-ai; `inspect view` and `inspect_ai.log.read_eval_log` open the file.

Mapping: one EvalSample per results.jsonl record (id = the sample id, epoch = sample_index + 1),
the assistant message holds a `reasoning` content (the thinking) then a `text` content (the answer),
and each judge x channel becomes a Score keyed "<judge>/<channel>" whose value is the label
("unscored" when the judge gave none). results.scores carries the summary's headline metrics.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from thinksafe.report.runs import Bench, Run, load_run
from thinksafe.schema import CHANNELS

LOG_VERSION = 2
UNSCORED = "unscored"
_STOP_REASONS = {"stop": "stop", "eos": "stop", "end_turn": "stop", "length": "max_tokens",
                 "max_tokens": "max_tokens", "model_length": "model_length", "content_filter": "content_filter",
                 "tool_calls": "tool_calls"}


def stop_reason(finish_reason: str | None) -> str:
    """finish_reason as one of Inspect's StopReason values ("unknown" when it has no counterpart)."""
    return _STOP_REASONS.get(str(finish_reason or "").lower(), "unknown")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def _short_id(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:22]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("thinksafe")
    except Exception:  # noqa: BLE001 - an uninstalled checkout still exports
        return "unknown"


def _assistant(record: dict[str, Any], model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if record.get("reasoning") is not None:
        content.append({"type": "reasoning", "reasoning": str(record["reasoning"]), "redacted": False})
    content.append({"type": "text", "text": str(record.get("answer") or "")})
    return {"role": "assistant", "content": content, "source": "generate", "model": model}


def _score(judgement: dict[str, Any]) -> dict[str, Any]:
    label = judgement.get("label")
    scored = label is not None and not judgement.get("unscored_reason")
    value = str(label) if scored else UNSCORED
    explanation = judgement.get("raw") if scored else (judgement.get("unscored_reason") or judgement.get("raw"))
    metadata = dict(judgement.get("details") or {})
    for key in ("score", "unsafe", "quoted_verdict", "unscored_reason"):
        if judgement.get(key) is not None:
            metadata.setdefault(key, judgement[key])
    return {"value": value, "answer": value, "explanation": None if explanation is None else str(explanation),
            "metadata": metadata}


def _sample(record: dict[str, Any], model: str, target: str) -> dict[str, Any]:
    prompt = str(record.get("prompt") or "")
    assistant = _assistant(record, model)
    scores = {f"{judge}/{channel}": _score(j)
              for judge, by_channel in (record.get("judgements") or {}).items()
              for channel, j in (by_channel or {}).items() if isinstance(j, dict)}
    error = record.get("error")
    sample: dict[str, Any] = {
        "id": str(record.get("id")),
        "epoch": int(record.get("sample_index") or 0) + 1,
        "input": prompt,
        "target": target,
        "messages": [{"role": "user", "content": prompt, "source": "input"}, assistant],
        "output": {"model": model,
                   "choices": [{"message": assistant, "stop_reason": stop_reason(record.get("finish_reason"))}],
                   "completion": str(record.get("answer") or ""),
                   **({"error": str(error)} if error else {})},
        "scores": scores,
        "metadata": {"category": record.get("category") or [], "attack": record.get("attack"),
                     "sample_index": record.get("sample_index"), "finish_reason": record.get("finish_reason"),
                     "truncated": bool(record.get("truncated"))},
    }
    if error:
        sample["error"] = {"message": str(error), "traceback": "", "traceback_ansi": ""}
    return sample


def _results(bench: Bench, samples: list[dict[str, Any]]) -> dict[str, Any]:
    keys = list(dict.fromkeys(k for s in samples for k in s["scores"]))
    metrics: dict[str, dict[str, Any]] = {}
    for m in bench.headline_metrics():
        key = f"{m.judge}/{m.channel}"
        if key not in keys:
            keys.append(key)
        if m.value is None or not math.isfinite(m.value):
            continue
        metrics.setdefault(key, {})[m.name] = {
            "name": m.name, "value": m.value, "params": {},
            "metadata": {"ci_low": m.ci_low, "ci_high": m.ci_high, "n": m.n, "unscored": m.unscored,
                         "higher_is_better": m.higher_is_better, "description": m.description}}
    scores = []
    for key in keys:
        judge, _, channel = key.rpartition("/")
        values = [s["scores"][key]["value"] for s in samples if key in s["scores"]]
        unscored = sum(v == UNSCORED for v in values)
        scores.append({"name": key, "scorer": judge, "scored_samples": len(values) - unscored,
                       "unscored_samples": unscored, "params": {"channel": channel},
                       "metrics": metrics.get(key, {})})
    return {"total_samples": len(samples), "completed_samples": sum("error" not in s for s in samples),
            "scores": scores}


def eval_log(bench: Bench, suite: str | None = None) -> dict[str, Any]:
    """One benchmark of a run as an Inspect EvalLog (a JSON-ready dict)."""
    summary = bench.summary
    summary_path = bench.path / "summary.json"
    created = _iso(summary_path.stat().st_mtime if summary_path.exists() else 0.0)
    model = summary.model
    records = bench.records
    samples = [_sample(r, model, "") for r in records]
    ids = list(dict.fromkeys(s["id"] for s in samples))
    epochs = max((s["epoch"] for s in samples), default=summary.params.n)
    p = summary.params
    generate_config = {"temperature": p.temperature, "top_p": p.top_p, "max_tokens": p.max_new_tokens,
                       "seed": p.seed, "num_choices": None}
    judges = list(dict.fromkeys(list(summary.judges) + [k.rpartition("/")[0] for s in samples for k in s["scores"]]))
    eval_id = _short_id(str(bench.path.resolve()), summary.benchmark, model, created)
    metadata: dict[str, Any] = {"thinksafe": {"run_dir": str(bench.path), "n": summary.n,
                                              "n_samples": summary.n_samples, "truncated": summary.truncated,
                                              "errors": summary.errors, "reasoning_present": summary.reasoning_present,
                                              "unscored": summary.unscored, "notes": summary.notes,
                                              "channels": list(CHANNELS)}}
    if suite:
        metadata["thinksafe"]["suite"] = suite
    spec = {
        "eval_id": eval_id, "run_id": eval_id, "created": created,
        "task": summary.benchmark, "task_id": eval_id, "task_version": 0,
        "task_display_name": summary.benchmark, "task_attribs": {}, "task_args": {}, "task_args_passed": {},
        "solver": "thinksafe", "tags": ["thinksafe"] + ([suite] if suite else []),
        "dataset": {"name": summary.benchmark, "location": str(bench.path), "samples": len(ids), "sample_ids": ids,
                    "shuffled": False},
        "model": model, "model_generate_config": generate_config, "model_args": {},
        "config": {"epochs": epochs}, "packages": {"thinksafe": _version()}, "metadata": metadata,
        "scorers": [{"name": j, "options": {}, "metadata": {}} for j in judges],
    }
    return {
        "version": LOG_VERSION,
        "status": "success",
        "eval": spec,
        "plan": {"name": "plan", "steps": [{"solver": "thinksafe/generate", "params": generate_config}],
                 "config": generate_config},
        "results": _results(bench, samples),
        "stats": {"started_at": created, "completed_at": created, "model_usage": {}},
        "samples": samples,
    }


def default_name(log: dict[str, Any]) -> str:
    """Inspect's file naming (`<created>_<task>_<id>.json`), which `inspect view` needs to list a log in a folder."""
    created = log["eval"]["created"].replace(":", "-").replace("+", "-")
    task = re.sub(r"[^A-Za-z0-9-]+", "-", log["eval"]["task"]).strip("-") or "task"
    return f"{created}_{task}_{log['eval']['eval_id']}.json"


def write_log(log: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(log, ensure_ascii=False, indent=1, allow_nan=False), encoding="utf-8")
    tmp.replace(path)
    return path


def export_run(run_dir: str | Path, out: str | Path | None = None) -> list[Path]:
    """Write RUN_DIR's Inspect log(s); returns the paths.

    A single run: `out` is the file to write (or an existing folder to put the Inspect-named file in);
    default RUN_DIR/inspect/<created>_<benchmark>_<id>.json. A suite: one log per member, in the folder `out`
    (default RUN_DIR/inspect/).
    """
    run: Run = load_run(run_dir)
    run_dir = Path(run_dir)
    if not run.benches:
        raise ValueError(f"{run_dir}: no benchmark results to export")
    logs = [eval_log(b, run.suite) for b in run.benches]
    if run.suite is None and out is not None and not Path(out).is_dir():
        return [write_log(logs[0], Path(out))]
    folder = Path(out) if out is not None else run_dir / "inspect"
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder}: a suite exports one log per member; --out must be a folder")
    return [write_log(log, folder / default_name(log)) for log in logs]
