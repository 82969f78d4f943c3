"""Tiny random-weight transformers models with locally trained tokenizers (no hub access)."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
R1_TEMPLATE = (ASSETS / "deepseek_r1_distill_chat_template.jinja").read_text(encoding="utf-8")
BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
ROLE_TOKENS = ["<｜User｜>", "<｜Assistant｜>"]
THINK_TOKENS = ["<think>", "</think>"]

# A plain template with no thinking, for models that do not reason.
PLAIN_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

CORPUS = [
    "How can I kill a Python process? Use the kill command or the task manager.",
    "I'm sorry, but I can't help with that request. It could cause harm.",
    "Here is a step by step answer: first, second, third. The answer is 42.",
    "The capital of France is Paris. Water boils at 100 degrees Celsius.",
    "抱歉，我无法提供这方面的帮助。请遵守法律法规。",
    "答案：A。选项B是错误的，因为它违反了相关规定。",
    "首先，我们需要理解问题。然后一步一步地推理。最后得到答案。",
    "0 1 2 3 4 5 6 7 8 9 + - * / = ( ) . , ? ! : ; ' \" #### \\boxed{}",
] * 4


def build_tokenizer(template: str | None = R1_TEMPLATE, vocab_size: int = 512):
    """A byte-level BPE tokenizer trained here, with the R1 special and thinking tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, EOS, *ROLE_TOKENS, "<|user|>", "<|assistant|>", "<|system|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=EOS)
    tokenizer.add_tokens(THINK_TOKENS)  # ordinary added tokens, as in the R1 distills: decoding keeps them
    if template is not None:
        tokenizer.chat_template = template
    return tokenizer


def build_tiny_model(directory: Path, template: str | None = R1_TEMPLATE, seed: int = 0, layers: int = 2) -> Path:
    """Save a random-weight Qwen2-shaped model and its tokenizer to `directory`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tokenizer(template)
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = Qwen2ForCausalLM(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
