"""Bootstrap intervals in bounded memory, bit-identical to drawing the whole replicate matrix."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from thinksafe import metrics
from thinksafe.metrics import bootstrap_mean, paired_bootstrap_diff

PEAK_LIMIT = 64 * 2**20  # bytes traced by tracemalloc (numpy's allocations included)


# ---------------------------------------------------------------- the previous implementation, the reference


def old_bootstrap_mean(values, clusters, n_boot=2000, seed=0, level=0.95):
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


def old_paired_bootstrap_diff(before, after, n_boot=2000, seed=0):
    common = sorted(set(before) & set(after))
    if not common:
        return None, None, None, 0
    diffs = np.array([after[k] - before[k] for k in common])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(diffs), size=(n_boot, len(diffs)))
    stats = diffs[draws].mean(axis=1)
    low, high = np.quantile(stats, [0.025, 0.975])
    return float(diffs.mean()), float(low), float(high), len(common)


# ---------------------------------------------------------------- inputs


def clustered(rng: np.random.Generator, n_clusters: int, max_size: int, binary: bool) -> tuple[list[float], list[str]]:
    """Values in clusters of unequal size (1..max_size generations per prompt), shuffled."""
    sizes = rng.integers(1, max_size + 1, size=n_clusters)
    clusters = [f"p{c}" for c, size in enumerate(sizes) for _ in range(size)]
    values = (rng.integers(0, 2, size=len(clusters)) if binary else rng.random(len(clusters))).astype(float)
    order = rng.permutation(len(clusters))
    return [float(values[i]) for i in order], [clusters[i] for i in order]


CASES = [  # (n_clusters, max generations per cluster, binary values, n_boot, seed)
    (2, 1, True, 2000, 0),
    (3, 4, False, 2000, 1),
    (57, 5, True, 2000, 2),
    (450, 3, True, 2000, 0),
    (1001, 1, False, 1999, 3),
    (4099, 7, True, 2000, 4),
    (12_345, 2, False, 500, 5),
]


@pytest.fixture
def small_chunks(monkeypatch):
    """Blocks of a few rows, so that even the small cases are drawn in many uneven blocks."""
    monkeypatch.setattr(metrics, "CHUNK_ENTRIES", 3 * 1001 + 17)


@pytest.mark.parametrize("chunked", [False, True], ids=["default-chunk", "small-chunk"])
@pytest.mark.parametrize("n_clusters,max_size,binary,n_boot,seed", CASES)
def test_bootstrap_mean_bit_identical(request, chunked, n_clusters, max_size, binary, n_boot, seed):
    if chunked:
        request.getfixturevalue("small_chunks")
    values, clusters = clustered(np.random.default_rng(1000 + n_clusters), n_clusters, max_size, binary)
    for level in (0.95, 0.9):
        new = bootstrap_mean(values, clusters, n_boot=n_boot, seed=seed, level=level)
        old = old_bootstrap_mean(values, clusters, n_boot=n_boot, seed=seed, level=level)
        assert new == old  # exact float equality, not approx


@pytest.mark.parametrize("chunked", [False, True], ids=["default-chunk", "small-chunk"])
@pytest.mark.parametrize("n,overlap,seed", [(1, 1.0, 0), (2, 1.0, 1), (300, 0.8, 2), (5000, 0.5, 3), (20_000, 0.9, 4)])
def test_paired_bootstrap_diff_bit_identical(request, chunked, n, overlap, seed):
    if chunked:
        request.getfixturevalue("small_chunks")
    rng = np.random.default_rng(n)
    before = {f"k{i}": float(rng.integers(0, 2)) for i in range(n)}
    after = {f"k{i}": float(rng.random()) for i in range(n) if rng.random() < overlap or i == 0}
    assert paired_bootstrap_diff(before, after, seed=seed) == old_paired_bootstrap_diff(before, after, seed=seed)


def test_edge_cases_unchanged():
    assert bootstrap_mean([], []) == old_bootstrap_mean([], []) == (None, None, None)
    assert bootstrap_mean([1.0, 0.0], ["a", "a"]) == (0.5, 0.5, 0.5)
    assert paired_bootstrap_diff({"a": 1.0}, {"b": 0.0}) == (None, None, None, 0)
    assert bootstrap_mean([1.0, 0.0, 1.0], ["a", "b", "c"], n_boot=1) == old_bootstrap_mean([1.0, 0.0, 1.0], ["a", "b", "c"], n_boot=1)


def test_blocks_cover_every_row_and_stay_small():
    for n_boot, width in [(2000, 1), (2000, 100_000), (2000, 3_000_000), (1999, 523), (1, 10)]:
        rows = metrics._row_chunks(n_boot, width)
        assert sum(rows) == n_boot and all(r >= 1 for r in rows)
        assert max(rows) * width <= max(metrics.CHUNK_ENTRIES, width)


# ---------------------------------------------------------------- memory


def traced_peak(fn, *args) -> int:
    """Peak bytes traced while `fn(*args)` runs (inputs allocated before are not counted)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        fn(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


def many_clusters(n: int) -> tuple[list[float], list[str]]:
    rng = np.random.default_rng(n)
    return [float(v) for v in rng.integers(0, 2, size=n)], [f"prompt-{i}" for i in range(n)]


def test_bootstrap_mean_peak_memory_at_100k_clusters():
    values, clusters = many_clusters(100_000)
    peak = traced_peak(bootstrap_mean, values, clusters)
    # the whole (2000, 100000) matrix would be 1.6 GB of int64 indices alone
    assert peak < PEAK_LIMIT, f"bootstrap_mean peaked at {peak / 2**20:.0f} MB for 100,000 clusters"


def test_paired_bootstrap_diff_peak_memory_at_100k_items():
    before = {f"k{i}": float(i % 2) for i in range(100_000)}
    after = {f"k{i}": float(i % 3 == 0) for i in range(100_000)}
    peak = traced_peak(paired_bootstrap_diff, before, after)
    assert peak < PEAK_LIMIT, f"paired_bootstrap_diff peaked at {peak / 2**20:.0f} MB for 100,000 items"


def test_memory_check_catches_the_whole_matrix():
    """The same check fails on the previous implementation, at a size where it is cheap to run:
    6,000 clusters are a (2000, 6000) index matrix (96 MB) plus two gathered copies."""
    values, clusters = many_clusters(6_000)
    assert traced_peak(old_bootstrap_mean, values, clusters) > PEAK_LIMIT
    assert traced_peak(bootstrap_mean, values, clusters) < PEAK_LIMIT


# ---------------------------------------------------------------- the soak script, small


def test_soak_script_runs_the_whole_eval(tmp_path):
    """benchmarks/soak.py end to end at a small N: every prompt generated and judged, figures reported."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"
    done = subprocess.run([sys.executable, str(script), "--n", "120", "--categories", "3", "--delay", "0.001",
                           "--concurrency", "16", "--keep", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["n"] == row["generations"] == 120 and row["errors"] == 0
    assert row["peak_rss_mb"] > 0 and row["store_mb"] > 0 and row["metrics"] == "chunked"
    summary = json.loads((tmp_path / "out-120" / "summary.json").read_text())
    groups = {m["group"] for m in summary["metrics"] if m["name"] == "refusal_rate"}
    assert len(groups) == 4  # all + 3 categories
