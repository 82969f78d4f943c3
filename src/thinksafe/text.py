"""Text normalisers, each named for what it normalises for (a leaf module: imports nothing of thinksafe)."""

from __future__ import annotations

import hashlib
import unicodedata

_QUOTES_AND_MARKDOWN = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                                      "*": None, "_": None, "#": None, ">": None, "`": None})


def for_matching(text: str) -> str:
    """NFKC (full-width letters and punctuation to ASCII), straight quotes, no markdown, one space, lower
    case: what the refusal and reflection patterns are written against."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.translate(_QUOTES_AND_MARKDOWN).split()).lower()


def letters_and_digits(text: str) -> str:
    """NFKC, lower case, letters and digits only: two prompts that differ only in spacing, case or
    punctuation become equal (for finding overlaps between training and evaluation prompts)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in {"L", "N"})


def prompt_fingerprint(text: str) -> str:
    """sha256 of `letters_and_digits(text)`: the identity of a prompt for overlap checks."""
    return hashlib.sha256(letters_and_digits(text).encode("utf-8")).hexdigest()
