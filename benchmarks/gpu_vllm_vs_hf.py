"""Tokens/s of thinksafe's `hf:` backend (its paged engine) against its `vllm:` backend, one workload.

Workload: a random-weight model of DeepSeek-R1-Distill-Qwen-1.5B's shape (Qwen2 config, real
vocabulary size; `--shape 7b` for the 7B) built and saved locally with thinksafe's locally trained
tokenizer and the R1 chat template (no hub access); N prompts (`--prompts`, default 256) of about
`--prompt-words` words each, T new tokens each (`--new-tokens`, default 512), greedy. The LM-head
rows of the end-of-sequence token and of every id the tokenizer cannot decode are zeroed, so greedy
decoding never picks them: every request generates exactly T tokens in both systems, and the same
text is decodable by both.

Both go through thinksafe's own `load_model(spec, options).generate_all(requests)` in one process:
`hf:` first (load, generate, release), then `vllm:` (bf16 on CUDA). Load time is reported apart and
not counted in tokens/s. Prints one JSON line: each side's tokens, seconds, tokens/s, and the ratio
vllm/hf, plus how many completions are the same text in both (bf16 kernels differ, so greedy texts
on random weights part after a few tokens; it is a sanity figure, not a test).

`--tiny`: a tiny config, 8 prompts x 16 tokens, on the CPU, so it can be smoke-tested anywhere;
without vLLM importable the vllm half is skipped with a note (vLLM needs Linux and a CUDA GPU:
pip install 'thinksafe[vllm]').
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_generate import build_model as random_model  # noqa: E402 - the GPU figures' random-weight Qwen2 shapes (R1-Distill-Qwen 1.5B and 7B, tiny)


def build_model(directory: Path, shape: str, device: str, max_positions: int) -> Path:
    """Random weights of `shape`, thinksafe's tiny tokenizer and R1 template, saved to `directory`."""
    import torch

    from thinksafe.tiny import R1_TEMPLATE, build_tokenizer

    tokenizer = build_tokenizer(R1_TEMPLATE)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = random_model(shape, device, dtype, max_positions, bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id,
                         pad=tokenizer.pad_token_id)
    with torch.no_grad():  # never chosen greedily: EOS (so every request runs T tokens) and ids with no text
        model.lm_head.weight[len(tokenizer):] = 0
        model.lm_head.weight[tokenizer.eos_token_id] = 0
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return directory


def requests_for(prompts: int, words: int, new_tokens: int) -> list:
    from thinksafe.schema import GenerationParams, GenerationRequest, Message
    from thinksafe.tiny import CORPUS

    vocabulary = " ".join(CORPUS).split()
    rng = random.Random(0)
    params = GenerationParams(temperature=0.0, max_new_tokens=new_tokens)
    return [GenerationRequest(key=str(i), params=params, messages=[
        Message(role="user", content=f"Question {i}: " + " ".join(rng.choice(vocabulary) for _ in range(words)))])
        for i in range(prompts)]


def run_backend(spec: str, options, requests: list) -> tuple[dict, list[str]]:
    from thinksafe.models.base import load_model

    started = time.perf_counter()
    model = load_model(spec, options)
    loaded = time.perf_counter()
    completions = asyncio.run(model.generate_all(requests))
    done = time.perf_counter()
    asyncio.run(model.aclose())
    del model
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
    errors = [c.error for c in completions if c.error]
    tokens = sum(c.completion_tokens or 0 for c in completions)
    figures = {"load_s": round(loaded - started, 2), "seconds": round(done - loaded, 3), "tokens": tokens,
               "tokens_per_s": round(tokens / (done - loaded), 1), "errors": len(errors),
               "first_error": errors[0] if errors else None,
               "exactly_t_tokens": all(c.completion_tokens == requests[0].params.max_new_tokens for c in completions)}
    return figures, [c.text for c in completions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny config, 8 prompts x 16 tokens, CPU")
    parser.add_argument("--shape", choices=["1.5b", "7b"], default="1.5b")
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--prompt-words", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16, help="hf: rows on the CPU (on CUDA the engine sizes itself)")
    parser.add_argument("--gpu-memory", type=float, default=None, help="vllm: gpu_memory_utilization")
    parser.add_argument("--skip-vllm", action="store_true")
    args = parser.parse_args()

    import torch

    from thinksafe.models.base import ModelOptions, VLLMEngineOptions

    shape = "tiny" if args.tiny else args.shape
    prompts, new_tokens = (8, 16) if args.tiny else (args.prompts, args.new_tokens)
    device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    max_positions = 4096
    requests = requests_for(prompts, 12 if args.tiny else args.prompt_words, new_tokens)
    record: dict = {"benchmark": "gpu_vllm_vs_hf", "shape": shape, "device": device,
                    "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None, "prompts": prompts,
                    "new_tokens": new_tokens, "greedy": True, "torch": torch.__version__}
    with tempfile.TemporaryDirectory(prefix="thinksafe-vllm-vs-hf-") as tmp:
        directory = build_model(Path(tmp), shape, device, max_positions)
        hf_options = ModelOptions(batch_size=args.batch_size, device=device)
        record["hf"], hf_texts = run_backend(f"hf:{directory}", hf_options, requests)
        if args.skip_vllm:
            record["vllm"], record["vllm_note"] = None, "skipped (--skip-vllm)"
        elif importlib.util.find_spec("vllm") is None:
            record["vllm"], record["vllm_note"] = None, "vllm is not importable here (pip install 'thinksafe[vllm]' on a CUDA machine)"
        else:
            import vllm

            record["vllm_version"] = vllm.__version__
            engine = VLLMEngineOptions(dtype="bfloat16" if device == "cuda" else "float32", max_model_len=max_positions,
                                       gpu_memory_utilization=args.gpu_memory)
            record["vllm"], vllm_texts = run_backend(f"vllm:{directory}", ModelOptions(vllm=engine), requests)
            record["ratio_vllm_over_hf"] = round(record["vllm"]["tokens_per_s"] / record["hf"]["tokens_per_s"], 3)
            record["same_text"] = sum(a == b for a, b in zip(hf_texts, vllm_texts))
    print(json.dumps(record))


if __name__ == "__main__":
    main()
