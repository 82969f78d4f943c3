"""`enhance train`: supervised fine-tuning with TRL's SFTTrainer, LoRA (PEFT) by default.

- Data: OUT/train.jsonl (and eval.jsonl when present) from `enhance data`, or any JSONL of
  chat records; tokenised by `sft_format.encode_record` (the model's chat template,
  thinking kept, loss on the assistant's tokens only).
- LoRA on every linear projection by default (`--full` for full-parameter training, as in
  the paper). On a GPU the model is loaded and trained in bf16 with fused AdamW; on a CPU
  in fp32 (for tiny models and tests).
- Checkpoints every `save_steps` under OUT/checkpoints; a run started again with the same
  OUT resumes from the last complete checkpoint (one whose trainer state was written), so
  a killed run loses at most `save_steps` steps.
- At the end: LoRA adapter in OUT/adapter (model spec `hf:<base>+OUT/adapter`), or the
  full model in OUT/model; `merge=True` also writes the merged model to OUT/merged.
  OUT/result.json names the spec to evaluate.
Multi-GPU: start the same command under `accelerate launch -m thinksafe enhance train ...`
(or torchrun); the Trainer picks up the distributed environment, and only the main process
writes outputs and result.json.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from thinksafe.enhance.sft_format import encode_record
from thinksafe.reasoning import DEFAULT_MARKERS, ThinkingMarkers

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class TrainConfig(BaseModel):
    model: str = Field(description="hf:<hub id or local dir> (or a bare id/dir) to fine-tune")
    data: Path = Field(description="a folder with train.jsonl [eval.jsonl], or one JSONL file")
    out: Path
    full: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: list[str] = Field(default_factory=lambda: list(LORA_TARGETS))
    epochs: float = 2.0
    max_steps: int = -1
    learning_rate: float | None = Field(None, description="default 1e-4 for LoRA, 1e-5 for full")
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 4096
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = Field(1.0, ge=0, description="clip gradients to this norm; 0 turns clipping off")
    scheduler: str = "cosine"
    save_steps: int = 200
    save_total_limit: int = 2
    eval_steps: int | None = None
    logging_steps: int = 10
    gradient_checkpointing: bool = False
    seed: int = 0
    merge: bool = False
    save_final: bool = Field(True, description="write the adapter / model at the end (benchmarks turn it off)")
    progress: bool = True
    device: str | None = Field(None, description="cuda or cpu; default: cuda when available")
    precision: Literal["auto", "bf16", "mixed", "fp32"] = Field(
        "auto",
        description="GPU only (CPU trains in fp32). bf16: weights in bf16 (LoRA adapters stay fp32); mixed: fp32 "
        "master weights with bf16 autocast; auto: bf16 for LoRA, mixed for full fine-tuning",
    )
    autocast: bool = Field(
        True,
        description="GPU, precision bf16: run under bf16 autocast (as accelerate does, outputs converted to fp32); "
        "False runs the bf16 weights natively, as a plain PyTorch loop does. Mixed precision always autocasts.",
    )
    markers: ThinkingMarkers = DEFAULT_MARKERS

    def resolved_precision(self, cuda: bool) -> str:
        if not cuda:
            return "fp32"
        if self.precision == "auto":
            return "mixed" if self.full else "bf16"
        return self.precision

    def uses_autocast(self, cuda: bool) -> bool:
        precision = self.resolved_precision(cuda)
        return precision == "mixed" or (precision == "bf16" and self.autocast)

    def base_path(self) -> str:
        name = self.model.removeprefix("hf:")
        if "+" in name:
            raise ValueError(f"{self.model!r} names an adapter; train from the base model or merge the adapter first")
        return name


class TrainResult(BaseModel):
    model_spec: str = Field(description="what to pass to --model / --after to evaluate the trained model")
    merged_spec: str | None = None
    base: str
    method: str
    steps: int
    resumed_from: str | None = None
    train_records: int
    eval_records: int
    dropped_records: int = Field(0, description="records with no assistant token left after truncation")
    truncated_records: int = 0
    train_tokens: int = Field(description="tokens per epoch (prompt + completion)")
    train_loss: float | None = None
    eval_loss: float | None = None
    runtime_s: float
    device: str
    processes: int = Field(1, description="processes in the (distributed) run")
    main_process: bool = Field(True, description="False on the other ranks, which write nothing")


def read_records(data: Path) -> tuple[list[dict], list[dict]]:
    """(train, eval) records from a folder written by `enhance data`, or (file, []) for one JSONL."""
    def read(path: Path) -> list[dict]:
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    if data.is_dir():
        train = read(data / "train.jsonl")
        eval_path = data / "eval.jsonl"
        return train, read(eval_path) if eval_path.exists() else []
    return read(data), []


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint-N whose trainer state was written (a kill mid-save leaves none)."""
    if not folder.exists():
        return None
    found = []
    for child in folder.iterdir():
        if child.is_dir() and child.name.startswith("checkpoint-") and child.name[11:].isdigit():
            if (child / "trainer_state.json").exists():
                found.append((int(child.name[11:]), child))
    return max(found)[1] if found else None


def encode_all(tokenizer: Any, records: list[dict], config: TrainConfig) -> tuple[list[dict], int, int, int]:
    """Tokenised rows, and counts: (rows, dropped, truncated, tokens)."""
    rows, dropped, truncated, tokens = [], 0, 0, 0
    for record in records:
        encoded = encode_record(tokenizer, record, config.max_length, config.markers)
        if all(label == -100 for label in encoded.labels):
            dropped += 1
            continue
        truncated += encoded.truncated
        tokens += len(encoded.input_ids)
        rows.append({"input_ids": encoded.input_ids, "labels": encoded.labels})
    return rows, dropped, truncated, tokens


def _sft_config(config: TrainConfig, cuda: bool, has_eval: bool) -> Any:
    """SFTConfig from ours; on a GPU bf16 autocast is on unless `autocast=False` with bf16 weights."""
    from trl import SFTConfig

    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    lr = config.learning_rate or (1e-5 if config.full else 1e-4)
    kwargs: dict[str, Any] = dict(
        output_dir=str(config.out / "checkpoints"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=lr,
        lr_scheduler_type=config.scheduler,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if (has_eval and config.eval_steps) else "no",
        eval_steps=config.eval_steps,
        bf16=config.uses_autocast(cuda),
        fp16=False,
        use_cpu=not cuda,
        optim="adamw_torch_fused" if cuda else "adamw_torch",
        max_length=config.max_length,
        packing=False,
        report_to="none",
        # the NaN/Inf filter on the logged loss reads the loss back from the GPU twice a step
        # (`torch.isnan(loss) or torch.isinf(loss)`), stalling the launch queue; a NaN loss
        # still shows in the logged loss
        logging_nan_inf_filter=False,
        # every trainable parameter takes part in every forward; the search for unused ones
        # would walk the autograd graph each step under DDP
        ddp_find_unused_parameters=False,
        seed=config.seed,
        data_seed=config.seed,
        disable_tqdm=not config.progress,
        dataloader_num_workers=0,
        remove_unused_columns=True,
    )
    # transformers 5 renamed gradient checkpointing to activation checkpointing
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    kwargs[checkpointing] = config.gradient_checkpointing
    if "warmup_ratio" in fields:
        kwargs["warmup_ratio"] = config.warmup_ratio
    else:  # newer transformers: a float warmup_steps below 1 is a ratio
        kwargs["warmup_steps"] = config.warmup_ratio
    return SFTConfig(**{k: v for k, v in kwargs.items() if k in fields})


def load_for_training(config: TrainConfig, cuda: bool) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = config.base_path()
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if config.resolved_precision(cuda) == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    if getattr(model.config, "use_cache", None):
        model.config.use_cache = False  # no KV cache while training
    return tokenizer, model


MODEL_INPUTS = frozenset({"input_ids", "attention_mask", "labels", "position_ids"})


def lean_trainer_class() -> type:
    """SFTTrainer whose loss step is the plain causal-LM loss over the label tokens.

    TRL's own step also computes entropy and token accuracy and reads three scalars back
    from the GPU every step (`.item()`), which stalls the launch queue; on an H100 that cost
    `enhance train` 11-14% against a plain PyTorch loop. The objective is the same: summed
    token losses over the label tokens of the batch, divided by their number.
    """
    from transformers import Trainer
    from trl import SFTTrainer

    class LeanSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            model_inputs = {k: v for k, v in inputs.items() if k in MODEL_INPUTS}
            model_inputs["use_cache"] = False
            return Trainer.compute_loss(
                self, model, model_inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )

    return LeanSFTTrainer


def run_training(config: TrainConfig, callbacks: list | None = None) -> TrainResult:
    """Fine-tune, checkpoint, resume, save; see the module docstring."""
    import torch
    from datasets import Dataset

    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.startswith("cuda")
    config.out.mkdir(parents=True, exist_ok=True)
    train_records, eval_records = read_records(config.data)
    if not train_records:
        raise ValueError(f"no training records in {config.data}")
    tokenizer, model = load_for_training(config, cuda)
    train_rows, dropped, truncated, tokens = encode_all(tokenizer, train_records, config)
    eval_rows, *_ = encode_all(tokenizer, eval_records, config)
    peft_config = None
    if not config.full:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=config.lora_targets, task_type="CAUSAL_LM",
        )
    args = _sft_config(config, cuda, bool(eval_rows))
    trainer = lean_trainer_class()(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    resume = last_complete_checkpoint(config.out / "checkpoints")
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    runtime = time.perf_counter() - started
    eval_loss = trainer.evaluate()["eval_loss"] if eval_rows else None
    model_spec, merged_spec = save_outputs(config, trainer, tokenizer) if config.save_final else ("", None)
    result = TrainResult(
        model_spec=model_spec, merged_spec=merged_spec, base=config.base_path(), method="full" if config.full else "lora",
        steps=trainer.state.global_step, resumed_from=str(resume) if resume else None,
        train_records=len(train_rows), eval_records=len(eval_rows), dropped_records=dropped,
        truncated_records=truncated, train_tokens=tokens, train_loss=output.training_loss, eval_loss=eval_loss,
        runtime_s=runtime, device=device, processes=trainer.args.world_size, main_process=trainer.is_world_process_zero(),
    )
    if config.save_final and result.main_process:
        (config.out / "result.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    return result


def save_outputs(config: TrainConfig, trainer: Any, tokenizer: Any) -> tuple[str, str | None]:
    """Adapter or full model (and the merged model when asked); returns (spec, merged spec) to evaluate.

    Called on every process of a distributed run: `trainer.save_model` gathers sharded weights
    and writes from the main process only; the merged model is written by the main process alone.
    """
    out = config.out.resolve()
    target = out / ("model" if config.full else "adapter")
    trainer.save_model(str(target))  # with the tokenizer; a PEFT model saves its adapter only
    if config.full:
        return f"hf:{target}", None
    if not config.merge:
        return f"hf:{config.base_path()}+{target}", None
    merged = out / "merged"
    if trainer.is_world_process_zero():
        model = trainer.model.merge_and_unload()
        model.save_pretrained(str(merged))
        tokenizer.save_pretrained(str(merged))
    return f"hf:{config.base_path()}+{target}", f"hf:{merged}"
