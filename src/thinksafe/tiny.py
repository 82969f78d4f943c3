"""Tiny random-weight reasoning models, built locally (no hub access): for `thinksafe demo` and the tests.

A byte-level BPE tokenizer is trained here on a few lines of English and Chinese, with the
DeepSeek-R1-distill special tokens and its real chat template (which opens `<think>` itself),
and a two-layer Qwen2-shaped model gets random weights. What it writes is noise: it exercises
every stage of an evaluation, and its numbers mean nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
ROLE_TOKENS = ["<｜User｜>", "<｜Assistant｜>"]
THINK_TOKENS = ["<think>", "</think>"]

# The `chat_template` of deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B's tokenizer_config.json, exactly
# (tests/assets/deepseek_r1_distill_chat_template.jinja holds the same string; a test checks they agree).
R1_TEMPLATE = (
    '{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{'
    "% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%"
    "- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = messa"
    "ge['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in mes"
    "sages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message["
    "'content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{"
    "%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'"
    "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['fu"
    "nction']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜t"
    "ool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool["
    "'type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']"
    "['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{"
    "%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content']"
    " is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sen"
    "tence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}{% if '"
    "</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistan"
    "t｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool'"
    " %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁outp"
    "ut▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{"
    "%- else %}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}"
    "{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_gene"
    "ration_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)

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


def build_tokenizer(template: str | None = R1_TEMPLATE, vocab_size: int = 512) -> Any:
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
    """Save a random-weight Qwen2-shaped model and its tokenizer to `directory`; returns `directory`."""
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
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
