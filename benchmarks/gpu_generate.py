"""Tokens/s of the in-process `hf:` engine against plain `generate`, and the bandwidth roofline.

Workload (issue 7): a random-weight model of real shape (DeepSeek-R1-Distill-Qwen-1.5B by
default, 7B with --shape 7b), 512 prompts of 128 random tokens, output lengths drawn (seed 0)
from a log-normal with median 256 (sigma --sigma, default 1.0) capped at 4,096, EOS forced at
the drawn length. Both systems generate exactly the drawn lengths:

- engine: `thinksafe.engine.paged.PagedEngine` (what `hf:` uses), given every request with
  max_new_tokens 4,096 so its scheduler cannot see the drawn lengths; the stop is forced on
  the drawn token;
- baseline: plain `model.generate` in static batches of as many prompts as the engine's KV
  memory holds at 128 + 4,096 positions each, greedy, with a logits processor forcing EOS at
  each row's drawn length (a finished row pads until its batch ends). Static batches run to
  their longest member, so a whole baseline would take many minutes; it runs batches in order
  for at most --baseline-seconds and counts only the tokens the rows really needed. Its cost per
  step only grows with context, so the cut can only flatter the baseline.

Roofline: a decode step must read every weight once and every cached token of every running
sequence. At the engine's measured mean concurrency C and mean context T,
roofline tokens/s = C / ((weight bytes + C * T * KV bytes per token) / bandwidth), with the
H100 SXM's 3.35 TB/s (and the copy bandwidth measured in the same run, also printed).

Prints one JSON line. `--check` first compares each Triton kernel with its torch twin and the
engine's greedy tokens with `generate`'s on a small random model.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from thinksafe.engine.paged import EngineConfig, EngineRequest, PagedEngine  # noqa: E402
from thinksafe.engine.model import PagedModel  # noqa: E402

SHAPES = {
    # DeepSeek-R1-Distill-Qwen-1.5B and -7B (Qwen2 architecture), from their config.json
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=False),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
    "tiny": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1024, tie_word_embeddings=False),
}
H100_SXM_BANDWIDTH = 3.35e12
EOS = 2


def build_model(shape: str, device: str, dtype: torch.dtype, max_positions: int = 131072, *, bos: int = 1,
                eos: int = EOS, pad: int = EOS):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(**SHAPES[shape], max_position_embeddings=max_positions, rope_theta=10000.0,
                         rms_norm_eps=1e-6, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, use_sliding_window=False)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen2ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def workload(n: int, prompt_len: int, median: float, sigma: float, cap: int, vocab: int) -> tuple[list[list[int]], list[int]]:
    rng = np.random.default_rng(0)
    lengths = np.minimum(cap, np.maximum(1, np.round(rng.lognormal(math.log(median), sigma, n)))).astype(int).tolist()
    prompts = rng.integers(3, vocab, size=(n, prompt_len)).tolist()
    return prompts, lengths


def copy_bandwidth(device: str) -> float:
    """Bytes read plus written per second by a large device-to-device copy (median of 10)."""
    src = torch.empty(1 << 30, dtype=torch.uint8, device=device).random_()
    dst = torch.empty_like(src)
    times = []
    for _ in range(12):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    del src, dst
    return 2 * (1 << 30) / sorted(times[2:])[len(times[2:]) // 2]


def run_engine(model, prompts, lengths, cap, kv_bytes, max_rows, temperature=0.0, top_p=1.0):
    config = EngineConfig(max_rows=max_rows, kv_cache_bytes=kv_bytes)
    built = time.perf_counter()
    engine = PagedEngine(model, config, max_len=len(prompts[0]) + cap)
    build_s = time.perf_counter() - built
    requests = [EngineRequest(index=i, prompt_ids=p, max_new_tokens=cap, temperature=temperature, top_p=top_p,
                              force_stop_at=n) for i, (p, n) in enumerate(zip(prompts, lengths))]
    results = {}
    stats = engine.run(requests, lambda r: results.__setitem__(r.index, r))
    produced = sum(len(r.tokens) + (1 if r.hit_stop else 0) for r in results.values())
    assert produced == sum(lengths), (produced, sum(lengths))
    return engine, stats, build_s


class ForceLength:
    """Logits processor: EOS is impossible before a row's drawn length and forced at it."""

    def __init__(self, lengths: torch.Tensor, prompt_len: int, eos: int):
        self.lengths, self.prompt_len, self.eos = lengths, prompt_len, eos

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        step = input_ids.shape[1] - self.prompt_len  # tokens generated so far
        at = self.lengths == step + 1
        scores[:, self.eos] = float("-inf")
        scores[at] = float("-inf")
        scores[at, self.eos] = 0.0
        return scores


def run_baseline(model, prompts, lengths, batch, budget_s):
    from transformers import LogitsProcessorList

    device = next(model.parameters()).device
    useful = 0
    started = time.perf_counter()
    batches = 0
    for start in range(0, len(prompts), batch):
        left = budget_s - (time.perf_counter() - started)
        if left <= 0:
            break
        ids = torch.tensor(prompts[start : start + batch], device=device)
        want = lengths[start : start + batch]
        force = ForceLength(torch.tensor(want, device=device), ids.shape[1], EOS)
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max(want),
                                 do_sample=False, logits_processor=LogitsProcessorList([force]), pad_token_id=EOS,
                                 eos_token_id=EOS, max_time=left, temperature=None, top_p=None, top_k=None)
        steps = out.shape[1] - ids.shape[1]
        useful += sum(min(n, steps) for n in want)
        batches += 1
    wall = time.perf_counter() - started
    return {"tokens": useful, "wall_s": wall, "tokens_per_s": useful / wall, "batch": batch, "batches_run": batches}


def check_kernels(device: str) -> dict:
    """Each Triton kernel against its torch twin on fresh random inputs (relative L2 error)."""
    from thinksafe.engine import kernels as k
    from thinksafe.engine import ops as ref

    torch.manual_seed(1)
    errors = {}
    rel = lambda a, b: float((a.float() - b.float()).norm() / b.float().norm())  # noqa: E731
    x, r, w = (torch.randn(37, 1536, device=device, dtype=torch.bfloat16) for _ in range(3))
    r1, r2 = r.clone(), r.clone()
    errors["add_rmsnorm"] = rel(k.add_rmsnorm(x, r1, w[0], 1e-6), ref.add_rmsnorm(x, r2, w[0], 1e-6))
    errors["add_rmsnorm_residual"] = rel(r1, r2)
    gu = torch.randn(37, 2 * 8960, device=device, dtype=torch.bfloat16)
    errors["silu_mul"] = rel(k.silu_mul(gu), ref.silu_mul(gu))
    heads, n_kv, dim, page, rows = 12, 2, 128, 64, 37
    pages = rows * 63 + 1
    cos = torch.randn(5000, dim // 2, device=device)
    sin = torch.randn(5000, dim // 2, device=device)
    lens = torch.randint(1, 4000, (rows,), device=device, dtype=torch.int32)
    perm = (torch.randperm(pages - 1, device=device) + 1).reshape(rows, 63).to(torch.int32)
    qkv = torch.randn(rows, (heads + 2 * n_kv) * dim, device=device, dtype=torch.bfloat16)
    caches = [torch.randn(pages, n_kv, page, dim, device=device, dtype=torch.bfloat16) for _ in range(2)]
    kc1, vc1 = (c.clone() for c in caches)
    kc2, vc2 = (c.clone() for c in caches)
    pos = lens - 1
    q1 = k.rope_and_cache(qkv, cos, sin, pos, perm, kc1, vc1, heads, n_kv, dim)
    q2 = ref.rope_and_cache(qkv, cos, sin, pos, perm, kc2, vc2, heads, n_kv, dim)
    errors["rope_q"], errors["rope_k_cache"], errors["rope_v_cache"] = rel(q1, q2), rel(kc1, kc2), rel(vc1, vc2)
    work = k.DecodeWorkspace(rows, heads, dim, 4032, 512, torch.device(device))
    q = torch.randn(rows, heads, dim, device=device, dtype=torch.bfloat16)
    a1 = k.paged_decode_attention(q, kc1, vc1, perm, lens, dim**-0.5, work)
    a2 = ref.paged_decode_attention(q, kc1, vc1, perm, lens, dim**-0.5)
    errors["paged_decode_attention"] = rel(a1, a2)
    return errors


def check_engine_vs_generate(device: str) -> dict:
    """Greedy tokens of the engine and of `generate` on a small random bf16 model (numerics may split them)."""
    model = build_model("tiny", device, torch.bfloat16, max_positions=4096)
    prompts, _ = workload(16, 40, 64, 0.5, 200, SHAPES["tiny"]["vocab_size"])
    engine = PagedEngine(model, EngineConfig(max_rows=8), max_len=300)
    results = {}
    engine.run([EngineRequest(index=i, prompt_ids=p, max_new_tokens=64) for i, p in enumerate(prompts)],
               lambda r: results.__setitem__(r.index, r.tokens))
    same_prefix = []
    for i, p in enumerate(prompts):
        ids = torch.tensor([p], device=device)
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=64, do_sample=False,
                             eos_token_id=None, pad_token_id=EOS, temperature=None, top_p=None, top_k=None)[0, 40:].tolist()
        same_prefix.append(next((j for j, (a, b) in enumerate(zip(out, results[i])) if a != b), len(out)))
    return {"identical": sum(n == 64 for n in same_prefix), "of": len(prompts), "first_divergence": same_prefix}


def check_hf_backend() -> dict:
    """`hf:` end to end on the GPU (tiny R1-template model from tests/): paged engine against static batches."""
    import asyncio
    import os
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tiny_model import build_tiny_model

    from thinksafe.models import load_model
    from thinksafe.schema import GenerationParams, GenerationRequest, Message

    params = GenerationParams(temperature=0.0, max_new_tokens=48)
    requests = [GenerationRequest(key=str(i), messages=[Message(role="user", content=f"Question {i}: how do I {w}?")],
                                  params=params) for i, w in enumerate(["boil water", "kill a process", "sort a list"] * 8)]

    async def generate(spec: str):
        model = load_model(spec)
        try:
            return type(model.engine).__name__, await model.generate_all(requests)
        finally:
            await model.aclose()

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_model(Path(tmp) / "tiny", layers=4)
        for engine in ("paged", "static"):
            os.environ["THINKSAFE_HF_ENGINE"] = engine
            out[engine] = asyncio.run(generate(f"hf:{path}"))
        os.environ.pop("THINKSAFE_HF_ENGINE")
    (paged_name, paged), (static_name, static) = out["paged"], out["static"]
    return {"engines": [paged_name, static_name], "errors": sum(1 for c in paged + static if c.error),
            "identical_text": sum(a.text == b.text for a, b in zip(paged, static)), "of": len(requests),
            "tokens": [sum(c.completion_tokens or 0 for c in paged), sum(c.completion_tokens or 0 for c in static)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="1.5b", choices=sorted(SHAPES))
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--prompt-len", type=int, default=128)
    parser.add_argument("--median", type=float, default=256)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--cap", type=int, default=4096)
    parser.add_argument("--kv-gib", type=float, default=40.0, help="KV cache memory of both systems")
    parser.add_argument("--max-rows", type=int, default=512, help="engine: most sequences decoded at once")
    parser.add_argument("--baseline-seconds", type=float, default=120.0)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--sampled", action="store_true", help="also run the engine with temperature 0.6, top-p 0.95")
    parser.add_argument("--check", action="store_true", help="kernel and greedy-equality checks first")
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    report: dict = {"benchmark": "gpu_generate", "date": datetime.date.today().isoformat(), "shape": args.shape,
                    "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                    "torch": torch.__version__}
    import transformers

    report["transformers"] = transformers.__version__
    if args.check and device == "cuda":
        report["kernel_rel_error"] = check_kernels(device)
        report["greedy_vs_generate_bf16"] = check_engine_vs_generate(device)
        report["hf_backend_bf16"] = check_hf_backend()
        print(json.dumps({"check": report["kernel_rel_error"], "greedy": report["greedy_vs_generate_bf16"],
                          "hf": report["hf_backend_bf16"]}), flush=True)

    model = build_model(args.shape, device, dtype)
    prompts, lengths = workload(args.prompts, args.prompt_len, args.median, args.sigma, args.cap, model.config.vocab_size)
    kv_per_token = PagedModel.kv_bytes_per_token(model, 2 if dtype == torch.bfloat16 else 4)
    kv_bytes = int(args.kv_gib * (1 << 30))
    report["workload"] = {"prompts": args.prompts, "prompt_len": args.prompt_len, "median": args.median, "sigma": args.sigma,
                          "cap": args.cap, "total_new_tokens": sum(lengths), "longest": max(lengths),
                          "mean_new_tokens": sum(lengths) / len(lengths)}

    engine, stats, build_s = run_engine(model, prompts, lengths, args.cap, kv_bytes, args.max_rows)
    weight_bytes = engine.paged.weight_bytes()
    concurrency = stats.decode_rows / max(1, stats.decode_steps)
    context = stats.kv_tokens_read / max(1, stats.decode_rows)
    bandwidth = copy_bandwidth(device) if device == "cuda" else None

    def roofline(bw: float) -> float:
        return concurrency / ((weight_bytes + concurrency * context * kv_per_token) / bw)

    engine_tps = stats.generated_tokens / stats.wall_s
    report["engine"] = {**stats.model_dump(), "tokens_per_s": engine_tps, "build_s": build_s,
                        "mean_concurrency": concurrency, "mean_context": context, "kv_pages": engine.num_pages,
                        "page_size": engine.page_size, "max_rows": engine.max_rows}
    report["roofline"] = {"weight_bytes": weight_bytes, "kv_bytes_per_token": kv_per_token,
                          "spec_bandwidth": H100_SXM_BANDWIDTH, "tokens_per_s": roofline(H100_SXM_BANDWIDTH),
                          "engine_fraction": engine_tps / roofline(H100_SXM_BANDWIDTH)}
    if bandwidth:
        report["roofline"]["measured_copy_bandwidth"] = bandwidth
        report["roofline"]["tokens_per_s_at_measured"] = roofline(bandwidth)
    print(json.dumps({"engine_tokens_per_s": engine_tps, "roofline_fraction": report["roofline"]["engine_fraction"]}), flush=True)
    del engine
    if args.sampled:
        engine, sampled, _ = run_engine(model, prompts, lengths, args.cap, kv_bytes, args.max_rows, 0.6, 0.95)
        report["engine_sampled"] = {**sampled.model_dump(), "tokens_per_s": sampled.generated_tokens / sampled.wall_s}
        del engine
    if device == "cuda":
        torch.cuda.empty_cache()
    if not args.no_baseline:
        batch = max(1, kv_bytes // ((args.prompt_len + args.cap) * kv_per_token))
        warm = torch.tensor(prompts[:2], device=device)
        model.generate(input_ids=warm, attention_mask=torch.ones_like(warm), max_new_tokens=4, do_sample=False,
                       pad_token_id=EOS, temperature=None, top_p=None, top_k=None)
        report["baseline_generate"] = run_baseline(model, prompts, lengths, batch, args.baseline_seconds)
        report["speedup_vs_generate"] = engine_tps / report["baseline_generate"]["tokens_per_s"]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
