"""`--engine ray`: Ray Data replicas write into the same store as a plain run, and a cut run resumes.

One local Ray (2 CPUs) for the module, 2 `hf:` replicas of the tiny R1 model, greedy decoding.
Without Ray the Ray tests are skipped (pip install 'thinksafe[ray]'), except under CI=true, where
they fail instead. "No new call" is read from the store: a generation call rewrites its row (its
`created` time), so an unchanged (key, created) listing means nothing was generated.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sqlite3
import sys

import pytest
from typer.testing import CliRunner

from thinksafe.cli import app

HAVE_RAY = importlib.util.find_spec("ray") is not None
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
needs_ray = pytest.mark.skipif(not HAVE_RAY and not IN_CI,
                               reason="ray is not installed (pip install 'thinksafe[ray]'); CI=true makes this a failure")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")  # Ray's own settings
runner = CliRunner()
LIMIT = 8


@pytest.fixture(scope="module")
def ray_cluster():
    import ray  # under CI without ray: an ImportError, so the test fails

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def eval_args(model, store, out, *extra):
    return ["eval", "--model", f"hf:{model}", "--benchmark", "xstest", "--limit", str(LIMIT), "--max-new-tokens", "6",
            "--temperature", "0", "--store", str(store), "--out", str(out), "--no-report", "--no-progress", *extra]


def run_cli(*args):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def generations(store) -> dict[str, float]:
    """key -> created time of every stored generation."""
    with sqlite3.connect(store) as db:
        return dict(db.execute("SELECT key, created FROM generations"))


RAY = ("--engine", "ray", "--replicas", "2", "--batch-size", "2")


@needs_ray
def test_ray_run_equals_plain_run_and_the_stores_are_interchangeable(ray_cluster, tiny_r1_model, mirror, tmp_path):
    ray_store, plain_store = tmp_path / "ray.sqlite", tmp_path / "plain.sqlite"
    run_cli(*eval_args(tiny_r1_model, ray_store, tmp_path / "ray"), *RAY)
    run_cli(*eval_args(tiny_r1_model, plain_store, tmp_path / "plain"))
    # same completions, same judgements, same metrics
    assert (tmp_path / "ray" / "results.jsonl").read_text() == (tmp_path / "plain" / "results.jsonl").read_text()
    ray_summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    plain_summary = json.loads((tmp_path / "plain" / "summary.json").read_text())
    assert ray_summary["n"] == LIMIT and ray_summary["errors"] == 0
    assert ray_summary["metrics"] == plain_summary["metrics"]
    assert any(note.startswith(f"engine ray: 2 replicas at local; {LIMIT} generated, 0 from the store")
               for note in ray_summary["notes"])
    # a plain run over the Ray run's store, and a Ray run over the plain run's store: no new call
    for store, args in ((ray_store, ()), (plain_store, RAY)):
        before = generations(store)
        assert len(before) == LIMIT
        run_cli(*eval_args(tiny_r1_model, store, tmp_path / "again"), *args)
        assert generations(store) == before
        assert (tmp_path / "again" / "results.jsonl").read_text() == (tmp_path / "plain" / "results.jsonl").read_text()
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert any(f"0 generated, {LIMIT} from the store" in note for note in again["notes"])


@needs_ray
def test_a_cut_run_resumes_with_only_the_missing_calls(ray_cluster, tiny_r1_model, mirror, tmp_path, monkeypatch):
    from thinksafe.models.base import ModelPool
    from thinksafe.pipeline import evaluate_async
    from thinksafe.schema import GenerationParams
    from thinksafe.solvers import ray_batch

    store = tmp_path / "store.sqlite"
    params = GenerationParams(temperature=0, max_new_tokens=6)
    full, _ = asyncio.run(evaluate_async(f"hf:{tiny_r1_model}", "xstest", limit=LIMIT, params=params, store=store,
                                         keep_texts=False, out=tmp_path / "full"))
    # a run killed half way: half of the completions committed, the rest never came back
    kept = generations(store)
    lost = sorted(kept)[: LIMIT // 2]
    with sqlite3.connect(store) as db:
        db.executemany("DELETE FROM generations WHERE key = ?", [(key,) for key in lost])
    for key in lost:
        kept.pop(key)

    solvers = []

    def capture(declared, engine, notes):
        solver = real(declared, engine, notes)
        solvers.append(solver)
        return solver

    real = ray_batch.ray_solver_for
    monkeypatch.setattr(ray_batch, "ray_solver_for", capture)
    pool = ModelPool()  # the driver loads no model of its own: the replicas do
    resumed, _ = asyncio.run(evaluate_async(f"hf:{tiny_r1_model}", "xstest", limit=LIMIT, params=params, store=store,
                                            keep_texts=False, out=tmp_path / "resumed", models=pool,
                                            engine={"name": "ray", "replicas": 2, "batch_size": 1}))
    assert not pool._models
    figures = solvers[0].figures
    assert (figures["generated"], figures["from_store"], figures["lost"]) == (LIMIT // 2, LIMIT // 2, 0)
    now = generations(store)
    assert set(now) == set(kept) | set(lost)
    assert {key: now[key] for key in kept} == kept  # what was stored was not generated again
    assert (tmp_path / "resumed" / "results.jsonl").read_text() == (tmp_path / "full" / "results.jsonl").read_text()
    assert resumed.metrics == full.metrics
    # per-replica throughput: every completion counted once, by the replica that made it
    per_replica = figures["per_replica"]
    assert 1 <= len(per_replica) <= 2
    assert sum(r["completions"] for r in per_replica.values()) == LIMIT // 2
    assert all(r["completion_tokens"] > 0 and r["tokens_per_s"] > 0 for r in per_replica.values())
    assert figures["completion_tokens"] == sum(r["completion_tokens"] for r in per_replica.values())
    assert any(note.startswith("engine ray:") and "tokens/s" in note for note in resumed.notes)


def test_engine_ray_without_ray_names_the_extra(tiny_r1_model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = runner.invoke(app, eval_args(tiny_r1_model, tmp_path / "s.sqlite", tmp_path / "out", "--engine", "ray"))
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: --engine ray needs Ray Data: pip install 'thinksafe[ray]'"]
    assert not (tmp_path / "s.sqlite").exists()


def test_engine_must_be_local_or_ray(tiny_r1_model, tmp_path):
    result = runner.invoke(app, eval_args(tiny_r1_model, tmp_path / "s.sqlite", tmp_path / "out", "--engine", "spark"))
    assert result.exit_code == 2 and "--engine must be local or ray" in result.output


def _kill_processes_mentioning(marker: str) -> None:
    """SIGKILL every process whose command line names `marker` (a killed driver's Ray daemons outlive it)."""
    import signal
    from pathlib import Path

    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


@needs_ray
def test_a_sigkilled_ray_driver_resumes_with_only_the_missing_calls(ray_cluster, tiny_r1_model, mirror, tmp_path):
    import signal
    import subprocess
    import time

    store = tmp_path / "killed.sqlite"
    import shutil
    import tempfile
    from pathlib import Path

    # the killed driver's own Ray cluster lives here (a short path: Ray's unix sockets allow 107 bytes)
    ray_tmp = Path(tempfile.mkdtemp(prefix="tsray", dir="/tmp"))
    args = [*eval_args(tiny_r1_model, store, tmp_path / "killed"), "--engine", "ray", "--replicas", "2", "--batch-size", "1"]
    args[args.index("--limit") + 1], args[args.index("--max-new-tokens") + 1] = "24", "48"
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp)}
    driver = subprocess.Popen([sys.executable, "-m", "thinksafe", *args], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=(tmp_path / "driver.err").open("w"))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            if store.exists() and 4 <= len(generations(store)) < 24:
                break
            time.sleep(0.2)
        assert driver.poll() is None, "the driver finished before it could be killed: " + (tmp_path / "driver.err").read_text()[-3000:]
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and what it started in its session
        driver.wait(timeout=30)
    finally:
        _kill_processes_mentioning(str(ray_tmp))
        shutil.rmtree(ray_tmp, ignore_errors=True)
    before = generations(store)
    assert 4 <= len(before) < 24
    result = run_cli(*args[:args.index("--engine")], *RAY[:2], "--replicas", "2")  # on the module's Ray
    after = generations(store)
    assert len(after) == 24
    assert {key: after[key] for key in before} == before  # every finished call kept, none generated again
    assert f"{24 - len(before)} generated, {len(before)} from the store" in result.output
