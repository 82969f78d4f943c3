"""enhance train: a killed run resumes from its last complete checkpoint; --merge equals the adapter."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from thinksafe.enhance.train import TrainConfig, last_complete_checkpoint, run_training


def write_records(path: Path, count: int = 48) -> Path:
    rows = [
        {"id": str(i), "messages": [{"role": "user", "content": f"What is {i} + 1?"},
                                    {"role": "assistant", "content": f"<think>\n{i} plus one.\n</think>\n\nThe answer is {i + 1}."}]}
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def train_command(model: Path, data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "thinksafe", "enhance", "train", "--model", f"hf:{model}", "--data", str(data), "--out", str(out),
            "--max-steps", "40", "--save-steps", "4", "--batch-size", "4", "--learning-rate", "1e-3", "--no-progress"]


@pytest.mark.slow
def test_killed_training_resumes_from_the_last_checkpoint(tiny_r1_model, tmp_path):
    data = write_records(tmp_path / "train.jsonl")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(train_command(tiny_r1_model, data, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            found = last_complete_checkpoint(out / "checkpoints")
            if found is not None and int(found.name.split("-")[1]) >= 8:
                break
            time.sleep(0.05)
        assert process.poll() is None, "training ended before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    killed_at = last_complete_checkpoint(out / "checkpoints")
    assert killed_at is not None and not (out / "result.json").exists()
    step = int(killed_at.name.split("-")[1])
    assert 8 <= step < 40

    finished = subprocess.run(train_command(tiny_r1_model, data, out), env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["steps"] == 40 and result["method"] == "lora"
    assert Path(result["resumed_from"]).name.startswith("checkpoint-") and int(Path(result["resumed_from"]).name.split("-")[1]) >= step
    assert "resumed from" in finished.stdout


def test_merged_model_answers_like_the_adapter(tiny_r1_model, tmp_path):
    from thinksafe.models.hf import load_hf, render_prompt
    from thinksafe.schema import Message

    data = write_records(tmp_path / "train.jsonl", 16)
    config = TrainConfig(model=f"hf:{tiny_r1_model}", data=data, out=tmp_path / "o", max_steps=6, batch_size=8, learning_rate=5e-2,
                         save_steps=1000, merge=True, progress=False, lora_r=4)
    result = run_training(config)
    assert result.merged_spec == f"hf:{(tmp_path / 'o' / 'merged').resolve()}" and result.steps == 6
    assert result.train_records == 16 and result.dropped_records == 0 and result.train_tokens > 0

    def greedy(spec: str) -> list[int]:
        tokenizer, model = load_hf(spec.removeprefix("hf:"), "cpu")
        text = render_prompt(tokenizer, [Message(role="user", content="What is 3 + 1?")])
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        return model.generate(**ids, max_new_tokens=12, do_sample=False)[0].tolist()

    adapter, merged, base = greedy(result.model_spec), greedy(result.merged_spec), greedy(f"hf:{tiny_r1_model}")
    assert adapter == merged
    assert adapter != base  # training changed the model


def test_trainer_arguments_follow_the_config(tmp_path):
    from pydantic import ValidationError

    from thinksafe.enhance.train import _sft_config

    config = TrainConfig(model="hf:x", data=tmp_path, out=tmp_path, full=True, max_grad_norm=0.0, batch_size=3, grad_accum=2)
    args = _sft_config(config, cuda=False, has_eval=False)
    assert args.max_grad_norm == 0.0 and args.learning_rate == 1e-5 and args.use_cpu and not args.bf16
    assert args.per_device_train_batch_size == 3 and args.gradient_accumulation_steps == 2
    assert args.logging_nan_inf_filter is False and args.ddp_find_unused_parameters is False
    assert _sft_config(config.model_copy(update={"full": False}), cuda=False, has_eval=False).learning_rate == 1e-4
    assert TrainConfig(model="hf:x", data=tmp_path, out=tmp_path).max_grad_norm == 1.0
    autocast = {(full, precision, on): TrainConfig(model="hf:x", data=tmp_path, out=tmp_path, full=full, precision=precision,
                                                   autocast=on).uses_autocast(cuda=True)
                for full in (False, True) for precision in ("auto", "bf16", "mixed", "fp32") for on in (False, True)}
    assert {key for key, value in autocast.items() if value} == {
        (False, "auto", True), (False, "bf16", True), (True, "bf16", True), (True, "auto", False), (True, "auto", True),
        (False, "mixed", False), (False, "mixed", True), (True, "mixed", False), (True, "mixed", True)}
    assert not config.uses_autocast(cuda=False)
    with pytest.raises(ValidationError):
        TrainConfig(model="hf:x", data=tmp_path, out=tmp_path, max_grad_norm=-1)


def test_adapter_spec_cannot_be_trained_on(tmp_path):
    config = TrainConfig(model="hf:base+adapter", data=tmp_path, out=tmp_path)
    with pytest.raises(ValueError, match="names an adapter"):
        config.base_path()


HOST_READS = ("item", "__bool__", "__float__", "__int__", "tolist")


class HostReads:
    """Counts reads of tensor values back to the host (a GPU sync each), by the code that asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        import traceback
        from collections import Counter

        import torch

        self.counting, self.reads = False, Counter()
        for name in HOST_READS:
            original = getattr(torch.Tensor, name)

            def read(tensor, *args, _original=original, _name=name, **kwargs):
                if self.counting:
                    caller = traceback.extract_stack(limit=2)[0]
                    # the CPU optimizer reads its step counters; fused AdamW on a GPU does not
                    if f"{os.sep}optim{os.sep}" not in caller.filename:
                        self.reads[f"{_name} in {Path(caller.filename).name}:{caller.lineno}"] += 1
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, read)


def test_a_training_step_reads_from_the_device_no_more_than_a_plain_loop(tiny_r1_model, tmp_path, monkeypatch):
    """Each host read stalls the GPU's launch queue; TRL's and the Trainer's own per-step reads cost 10% on an H100."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    from thinksafe.enhance.sft_format import encode_record

    data = write_records(tmp_path / "train.jsonl", 1)
    data.write_text(data.read_text() * 16)  # rows of one length: no padding, as in the GPU benchmark
    records = [json.loads(line) for line in data.read_text().splitlines()]
    host = HostReads(monkeypatch)

    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_r1_model, dtype=torch.float32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    row = encode_record(tokenizer, records[0], 128)
    host.counting = True
    for _ in range(3):
        loss = model(input_ids=torch.tensor([row.input_ids] * 2), labels=torch.tensor([row.labels] * 2), use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    host.counting = False
    plain = sum(host.reads.values()) / 3
    host.reads.clear()

    class CountSteps(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            host.counting = state.global_step >= 1  # after the first step's one-off set-up

        def on_step_end(self, args, state, control, **kwargs):
            host.counting = False

    for full in (False, True):
        host.reads.clear()
        config = TrainConfig(model=f"hf:{tiny_r1_model}", data=data, out=tmp_path / f"o-{full}", full=full, max_steps=4, batch_size=2,
                             save_steps=1000, logging_steps=1000, progress=False, save_final=False)
        run_training(config, callbacks=[CountSteps()])
        assert sum(host.reads.values()) / 3 <= plain, (full, dict(host.reads), plain)


@pytest.mark.slow
def test_two_processes_train_data_parallel_and_only_the_main_one_writes(tiny_r1_model, tmp_path):
    """The multi-GPU command of docs/enhance.md, on two CPU processes (gloo): batches are split between them."""
    data = write_records(tmp_path / "train.jsonl", 32)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "thinksafe", "enhance", "train", "--model", f"hf:{tiny_r1_model}", "--data", str(data), "--out", str(out),
               "--max-steps", "4", "--save-steps", "4", "--batch-size", "4", "--no-progress"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.count("wrote ") == 1 and "x 2 processes" in finished.stdout
    result = json.loads((out / "result.json").read_text())
    assert result["processes"] == 2 and result["steps"] == 4 and result["method"] == "lora"
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    state = json.loads((out / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["epoch"] == 1.0  # 4 steps x 4 rows x 2 processes = the 32 records once (one process: half an epoch)
