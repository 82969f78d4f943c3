"""Keep credentials out of what is stored: completion errors end up in store.sqlite, results.jsonl
and summary.json, and a server's error body may echo the request's headers back.

`redact(text, secrets)` replaces every occurrence of each known secret with ``[REDACTED]`` and masks
the value of anything that looks like a credential header (``Authorization: Bearer ...``,
``Bearer <token>``, ``api-key: ...``, ``x-api-key: ...``, in any case, quoted or not) even when
the secret itself is not known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
MIN_SECRET_LEN = 8  # shorter values ("EMPTY", "sk", "1234") would blank out ordinary words
PLACEHOLDERS = frozenset({"EMPTY"})  # what a keyless server is sent; not a secret

# A header value runs up to whitespace, a quote or a JSON/dict delimiter; one already masked is left alone.
_TOKEN = r"(?!\[REDACTED\])[^\s\"',;}\]]+"
_SEP = r"[\"']?\s*[:=]\s*[\"']?"  # `name: value`, `"name": "value"`, `name=value`
_SCHEMES = r"(?:bearer|basic|token|digest)"
_PATTERNS = (
    # Authorization: <scheme> <credentials>, or a bare Authorization: <credentials>
    # (the lookahead keeps a scheme word from being taken for the credentials: no possessive
    # quantifier, which Python 3.10 lacks)
    re.compile(rf"(?i)(\bauthorization{_SEP}(?:{_SCHEMES}\s+)?)(?!{_SCHEMES}\s){_TOKEN}"),
    re.compile(rf"(?i)(\bbearer\s+){_TOKEN}"),
    re.compile(rf"(?i)(\b(?:x-)?api[-_]?key{_SEP}){_TOKEN}"),
)


def _forms(secret: str) -> set[str]:
    """The secret as written, and as a JSON string would escape it."""
    return {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with each secret (of at least MIN_SECRET_LEN characters) and every credential-header value masked."""
    for secret in secrets:
        if not secret or secret in PLACEHOLDERS or len(secret) < MIN_SECRET_LEN:
            continue
        for form in sorted(_forms(secret), key=len, reverse=True):
            text = text.replace(form, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text
