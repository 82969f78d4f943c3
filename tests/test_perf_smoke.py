"""The performance scripts in benchmarks/ run and report what they did (correctness only, no timing)."""

import asyncio
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))


def run_script(name, *args, timeout=240):
    """In a fresh interpreter (the script pins itself to one core)."""
    result = subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_main(module_name, args, monkeypatch, capsys):
    """In this interpreter (no second start-up of torch and transformers): the script's JSON line."""
    import importlib

    module = importlib.import_module(module_name)
    monkeypatch.setattr(sys, "argv", [module_name, *args])
    module.main()
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_loopback_server_and_minimal_client_answer_every_request():
    from _loopback import REFUSAL, loopback_server, minimal_client, reply_text

    bodies = [{"model": "m", "messages": [{"role": "user", "content": f"prompt {i}"}]} for i in range(40)]
    with loopback_server(delay=0.01, lifetime_s=60) as url:
        replies = asyncio.run(minimal_client(url, bodies, concurrency=8))
    texts = [r["choices"][0]["message"]["content"] for r in replies]
    assert texts == [reply_text(f"prompt {i}") for i in range(40)]
    assert all(t.startswith("<think>") and "</think>" in t for t in texts)
    assert 5 < sum(REFUSAL in t for t in texts) < 35


def test_api_throughput_runs_the_whole_eval(mirror, monkeypatch, capsys):
    import csv

    from _loopback import REFUSAL, reply_text

    report = run_main("api_throughput", ["--concurrency", "32", "--samples", "1", "--delay", "0.01",
                                         "--startup-repeat", "0", "--data-dir", str(mirror)], monkeypatch, capsys)
    with (mirror / "xstest" / "xstest_prompts.csv").open(encoding="utf-8") as handle:
        prompts = [row["prompt"] for row in csv.DictReader(handle)]
    assert report["requests"] == 450
    (run,) = report["runs"]
    assert run["concurrency"] == 32 and run["ideal_rps"] == pytest.approx(3200)
    assert run["thinksafe_rps"] > 0 and run["minimal_rps"] > 0
    # The refusal-rules judge read every scripted refusal, and nothing else, as a refusal.
    assert run["answers_refused"] == sum(REFUSAL in reply_text(p) for p in prompts)
    assert hashlib.sha256(prompts[0].encode()).digest()  # the prompts are the mirror's


def test_judge_store_throughput_reports_every_stage():
    report = run_script("judge_store_throughput.py", "-n", "300")
    assert report["completions"] == 300 and 900 < report["mean_completion_bytes"] < 1200
    for stage in ("rules", "store", "pipeline_generate", "pipeline_read_back", "pipeline_judge", "pipeline_summary"):
        assert report[stage]["completions_per_s"] > 0, stage


def test_gpu_generate_runs_on_the_cpu_with_a_tiny_shape(monkeypatch, capsys):
    report = run_main("gpu_generate", ["--shape", "tiny", "--prompts", "12", "--prompt-len", "8", "--median", "10",
                                       "--cap", "30", "--kv-gib", "0.01", "--max-rows", "4", "--baseline-seconds", "30"],
                      monkeypatch, capsys)
    workload, engine = report["workload"], report["engine"]
    assert workload["prompts"] == 12 and workload["longest"] <= 30
    assert engine["generated_tokens"] == workload["total_new_tokens"]
    assert engine["prefill_tokens"] >= 12 * 8 and engine["mean_concurrency"] <= 4
    assert report["baseline_generate"]["tokens"] == workload["total_new_tokens"]  # the whole baseline ran
    assert report["baseline_generate"]["batch"] >= 1 and report["roofline"]["tokens_per_s"] > 0


def test_gpu_train_runs_every_method_in_interleaved_rounds_on_the_cpu(monkeypatch, capsys):
    report = run_main("gpu_train", ["--shape", "tiny", "--steps", "2", "--warmup", "1", "--seq-len", "64", "--rounds", "2",
                                    "--method", "plain", "--method", "full", "--method", "lora"], monkeypatch, capsys)
    assert report["method"] == "summary" and report["rounds"] == 2
    assert report["plain"]["ratio_to_plain_median"] == 1.0
    for method in ("full", "lora"):
        rates = report[method]["tokens_per_s"]
        assert len(rates) == 2 and all(rate > 0 for rate in rates)
        assert report[method]["ratio_to_plain_min"] <= report[method]["ratio_to_plain_median"] <= report[method]["ratio_to_plain_max"]
