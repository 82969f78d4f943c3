"""Tiny random-weight transformers models with locally trained tokenizers (no hub access).

The builder lives in the package (thinksafe.tiny, which `thinksafe demo` uses); the tests import it
from here as before.
"""

from __future__ import annotations

from pathlib import Path

from thinksafe.tiny import (
    BOS,
    CORPUS,
    EOS,
    PLAIN_TEMPLATE,
    R1_TEMPLATE,
    ROLE_TOKENS,
    THINK_TOKENS,
    build_tiny_model,
    build_tokenizer,
)

ASSETS = Path(__file__).parent / "assets"
__all__ = ["ASSETS", "BOS", "CORPUS", "EOS", "PLAIN_TEMPLATE", "R1_TEMPLATE", "ROLE_TOKENS", "THINK_TOKENS",
           "build_tiny_model", "build_tokenizer"]
