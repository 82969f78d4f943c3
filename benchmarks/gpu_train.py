"""Training throughput of `thinksafe enhance train` (tokens/s, model FLOPs utilisation).

A random-weight model with the shape of DeepSeek-R1-Distill-Qwen-1.5B (or `--shape tiny`
for a CPU check) is fine-tuned through the same code path as `enhance train`
(`thinksafe.enhance.train.run_training`: our tokenisation, TRL's SFTTrainer, PEFT LoRA or
full). Every sequence is exactly `--seq-len` tokens (a short prompt, a long reply), so a
step processes batch x seq-len tokens. Steps after `--warmup` are timed (CUDA synchronised).
`--method plain` times a plain PyTorch loop on the same model and data for reference
(bf16 weights, fused AdamW, the same loss on the reply tokens). `full-noautocast` and
`full-noclip` change one thing each in `full`, to tell where a gap to the plain loop comes from.

FLOPs per token (the usual 6N rule, attention's own matmuls left out, as in the quoted
plain-loop figure): full = 6 x N, LoRA = 4 x N + 6 x N_lora (no weight gradients for the
frozen base), where N counts the parameters that do matmuls (all but the input
embedding). `mfu_with_attention` adds 12 x layers x hidden x seq-len per token (x2/3 for
LoRA is not applied: attention has no weights). Peak: `--peak-tflops` (H100 SXM bf16 dense:
989.4). One JSON line per method on stdout.

    python benchmarks/gpu_train.py --method lora --method full --method plain
    python benchmarks/gpu_train.py --method plain --method full --method full-noautocast \
        --method full-noclip --rounds 3                                 # interleaved, with ratios
    python benchmarks/gpu_train.py --shape tiny --steps 4 --warmup 1     # CPU smoke run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
R1_TEMPLATE = ROOT / "tests" / "assets" / "deepseek_r1_distill_chat_template.jinja"

SHAPES = {
    # DeepSeek-R1-Distill-Qwen-1.5B's config.json (Qwen2 architecture)
    "r1-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                    num_key_value_heads=2, vocab_size=151936, max_position_embeddings=131072, rope_theta=10000.0,
                    rms_norm_eps=1e-6, tie_word_embeddings=False),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=4096, max_position_embeddings=4096, rope_theta=10000.0,
                 rms_norm_eps=1e-6, tie_word_embeddings=False),
}
METHODS = {
    "lora": "enhance train, LoRA r=16 on a bf16 base",
    "full": "enhance train --full --precision bf16 (bf16 weights, bf16 autocast, gradients clipped to 1.0)",
    "full-noautocast": "as full, without autocast (TrainConfig.autocast=False): bf16 weights run natively",
    "full-noclip": "as full, without gradient clipping (--max-grad-norm 0)",
    "full-mixed": "enhance train --full (fp32 master weights, bf16 autocast)",
    "plain": "a plain PyTorch loop: bf16 weights, fused AdamW, no clipping",
}
WORDS = ("the model thinks step by step about safety and answers the question with care while keeping its "
         "reasoning clear and short enough to read then checks each result twice before it writes").split()
BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=[BOS, EOS, "<｜User｜>", "<｜Assistant｜>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    core.train_from_iterator([" ".join(WORDS)] * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=EOS)
    tokenizer.add_tokens(["<think>", "</think>"])
    tokenizer.chat_template = R1_TEMPLATE.read_text(encoding="utf-8")
    return tokenizer


def build_model(folder: Path, shape: str, cuda: bool) -> tuple[Path, dict]:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tokenizer()
    config = Qwen2Config(**SHAPES[shape], bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    with torch.device("cuda" if cuda else "cpu"):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16 if cuda else torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    total = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    info = {"params": total, "matmul_params": total - embedding, "layers": config.num_hidden_layers, "hidden": config.hidden_size}
    del model
    return folder, info


def write_records(path: Path, count: int, seq_len: int, tokenizer) -> None:
    """Chat records whose reply is longer than seq_len tokens (cut to seq_len by training)."""
    rng = random.Random(0)
    words_needed = seq_len  # every word is at least one token
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            reply = " ".join(rng.choice(WORDS) for _ in range(words_needed))
            record = {"id": str(i), "messages": [
                {"role": "user", "content": f"question {i}: explain your reasoning."},
                {"role": "assistant", "content": f"<think>\n{reply}\n</think>\n\ndone."},
            ]}
            handle.write(json.dumps(record) + "\n")


class StepTimer:
    """A TrainerCallback (duck-typed) that times optimizer steps after the warm-up."""

    def __init__(self, warmup: int, cuda: bool):
        self.warmup, self.cuda, self.times, self._start = warmup, cuda, [], None

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kwargs):
        self._sync()
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._sync()
        if state.global_step > self.warmup and self._start is not None:
            self.times.append(time.perf_counter() - self._start)


def as_callback(timer: StepTimer):
    from transformers import TrainerCallback

    class Callback(TrainerCallback):
        def on_step_begin(self, *a, **k):
            timer.on_step_begin(*a, **k)

        def on_step_end(self, *a, **k):
            timer.on_step_end(*a, **k)

    return Callback()


def run_enhance(method: str, model_dir: Path, data: Path, out: Path, args, cuda: bool) -> tuple[list[float], int]:
    from thinksafe.enhance.train import TrainConfig, run_training

    timer = StepTimer(args.warmup, cuda)
    config = TrainConfig(
        model=f"hf:{model_dir}", data=data, out=out, full=method.startswith("full"),
        precision="mixed" if method == "full-mixed" else "bf16", max_steps=args.steps + args.warmup,
        autocast=method != "full-noautocast", max_grad_norm=0.0 if method == "full-noclip" else 1.0,
        batch_size=args.batch_size, max_length=args.seq_len, save_steps=10**9, logging_steps=10**9, progress=False,
        learning_rate=1e-5, warmup_ratio=0.0, gradient_checkpointing=args.gradient_checkpointing, save_final=False,
    )
    run_training(config, callbacks=[as_callback(timer)])
    lora = 0
    if method == "lora":
        from transformers import AutoConfig

        shape = AutoConfig.from_pretrained(model_dir)
        h, i, layers = shape.hidden_size, shape.intermediate_size, shape.num_hidden_layers
        kv = h // shape.num_attention_heads * shape.num_key_value_heads
        r = config.lora_r
        per_layer = r * ((h + h) + (h + kv) * 2 + (h + h) + (h + i) * 2 + (i + h))
        lora = per_layer * layers
    return timer.times, lora


def run_plain(model_dir: Path, data: Path, args, cuda: bool) -> list[float]:
    """A plain loop: bf16 weights (fp32 on CPU), fused AdamW, loss on the reply tokens."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from thinksafe.enhance.sft_format import encode_record

    device = "cuda" if cuda else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if cuda else torch.float32).to(device)
    model.config.use_cache = False
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=cuda)
    records = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    rows = [encode_record(tokenizer, r, args.seq_len) for r in records]
    times = []
    for step in range(args.steps + args.warmup):
        batch = rows[(step * args.batch_size) % len(rows):][: args.batch_size]
        ids = torch.tensor([r.input_ids for r in batch], device=device)
        labels = torch.tensor([r.labels for r in batch], device=device)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    del model, optimizer
    return times


def report(method: str, times: list[float], info: dict, lora: int, args, cuda: bool) -> dict:
    import torch
    import transformers

    tokens = args.batch_size * args.seq_len
    step = sorted(times)[len(times) // 2] if times else float("nan")
    rate = tokens / step
    n = info["matmul_params"]
    per_token = (4 * n + 6 * lora) if method == "lora" else 6 * n
    attention = 12 * info["layers"] * info["hidden"] * args.seq_len
    peak = args.peak_tflops * 1e12
    try:
        import trl

        trl_version = trl.__version__
    except ImportError:
        trl_version = None
    return {
        "method": method, "shape": args.shape, "params": info["params"], "matmul_params": n, "lora_params": lora,
        "batch": args.batch_size, "seq_len": args.seq_len, "tokens_per_step": tokens, "timed_steps": len(times),
        "median_step_s": round(step, 4), "tokens_per_s": round(rate, 1),
        "mfu": round(rate * per_token / peak, 4) if cuda else None,
        "mfu_with_attention": round(rate * (per_token + attention) / peak, 4) if cuda else None,
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "device": torch.cuda.get_device_name() if cuda else "cpu", "date": dt.date.today().isoformat(),
        "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl_version,
    }


def relative_to_plain(rates: dict[str, list[float]]) -> dict:
    """Each method's tokens/s over the plain loop's in the same round: median, min and max over rounds."""
    summary: dict = {"method": "summary", "rounds": len(rates["plain"])}
    for method, values in rates.items():
        ratios = sorted(value / plain for value, plain in zip(values, rates["plain"], strict=True))
        summary[method] = {"tokens_per_s": values, "ratio_to_plain_median": round(statistics.median(ratios), 4),
                           "ratio_to_plain_min": round(ratios[0], 4), "ratio_to_plain_max": round(ratios[-1], 4)}
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="r1-1.5b")
    parser.add_argument("--method", action="append", choices=list(METHODS), help="repeatable; default lora and full")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--peak-tflops", type=float, default=989.4)
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the methods this many times, interleaved (A B A B ...), so that a drift in the "
                             "GPU's clocks between runs shows up as spread instead of as a difference")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    methods = args.method or ["lora", "full"]

    import torch

    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        model_dir, info = build_model(root / "model", args.shape, cuda)
        data = root / "train.jsonl"
        write_records(data, (args.steps + args.warmup) * args.batch_size, args.seq_len, build_tokenizer())
        rates: dict[str, list[float]] = {}
        for round_index in range(args.rounds):
            for method in methods:
                if cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                if method == "plain":
                    times, lora = run_plain(model_dir, data, args, cuda), 0
                else:
                    times, lora = run_enhance(method, model_dir, data, root / f"out-{method}-{round_index}", args, cuda)
                line = report(method, times, info, lora, args, cuda) | {"round": round_index}
                rates.setdefault(method, []).append(line["tokens_per_s"])
                print(json.dumps(line), flush=True)
        if "plain" in rates and args.rounds > 1:
            print(json.dumps(relative_to_plain(rates)), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
