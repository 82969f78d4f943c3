"""Loading a Hugging Face model for `hf:`: a local path or a hub id (+ a PEFT adapter), with clear
errors when the path does not exist or the hub cannot be reached, and quiet progress bars."""

from __future__ import annotations

import os
from typing import Any

from thinksafe.models.base import ModelLoadError


def looks_like_path(name: str) -> bool:
    """A local path rather than a hub id: starts with / . ~, or has a path separator a hub id
    (`namespace/name`, one slash) cannot have."""
    if not name:
        return False
    if name.startswith(("/", ".", "~")):
        return True
    if os.sep != "/" and os.sep in name or os.altsep and os.altsep != "/" and os.altsep in name:
        return True
    return name.count("/") > 1


def missing_local_path(name: str) -> str | None:
    """The message for a path-looking model or adapter name that does not exist; None when fine."""
    for part, what in zip(name.partition("+")[::2], ("model", "adapter")):
        if part and looks_like_path(part) and not os.path.exists(os.path.expanduser(part)):
            return f"the local {what} path {part} does not exist (a hub id has the form namespace/name)"
    return None


HUB_PROBE_TIMEOUT_S = 3.0


def hub_offline_reason(timeout: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """Why the Hugging Face hub cannot be used now (offline mode set, or its host does not answer one quick
    TCP connect), else None. Behind a proxy the probe is skipped: a direct connect would say nothing."""
    import socket
    from urllib.parse import urlparse

    for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(flag, "").strip().lower() in {"1", "true", "yes", "on"}:
            return f"{flag} is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "huggingface.co", port), timeout=timeout):
            return None
    except OSError as error:
        return f"the Hugging Face hub ({endpoint}) is not reachable ({error.strerror or type(error).__name__})"


def load_hf(name: str, device: str | None = None) -> tuple[Any, Any]:
    """Load (tokenizer, model) from a hub id or local directory, optionally with an adapter."""
    missing = missing_local_path(name)
    if missing:
        raise ModelLoadError(f"could not load hf:{name}: {missing}")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ModelLoadError("the hf backend needs torch and transformers: pip install 'thinksafe[hf]'") from error

    base, _, adapter = name.partition("+")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    local = looks_like_path(base) or os.path.exists(base)
    # a hub id without hub access: read the local HF cache only, so the error comes at once (no retries)
    why_local_only = None if local else hub_offline_reason()
    # While a rich live display (thinksafe's progress bar) holds the terminal, it routes sys.stdout/stderr
    # through rich's FileProxy; the tqdm bars of transformers and huggingface_hub ("Loading weights",
    # "Loading checkpoint shards", downloads) written there would garble it. They are turned off for the
    # load and restored after; one plain line says what is happening instead.
    import sys
    import warnings

    from rich.file_proxy import FileProxy

    quiet = isinstance(sys.stderr, FileProxy) or isinstance(sys.stdout, FileProxy)
    bars_were_on: tuple[bool, bool] | None = None
    if quiet:
        from huggingface_hub import utils as hub_utils
        from transformers.utils import logging as hf_logging

        bars_were_on = (hf_logging.is_progress_bar_enabled(), not hub_utils.are_progress_bars_disabled())
        with warnings.catch_warnings():  # HF_HUB_DISABLE_PROGRESS_BARS=0 has priority and says so
            warnings.simplefilter("ignore")
            hf_logging.disable_progress_bar()  # transformers' own bars and huggingface_hub's
            hub_utils.disable_progress_bars()
        print(f"loading {name} (its download and loading bars are hidden under the progress bar)", file=sys.stderr)
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=why_local_only is not None)
            model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype, local_files_only=why_local_only is not None)
        except (OSError, ValueError) as error:
            if local:  # a local folder: hub advice would not help
                raise ModelLoadError(f"could not load the local model {base}: {error}") from error
            cause = (f"{why_local_only} and the model is not in the local Hugging Face cache" if why_local_only
                     else str(error))
            raise ModelLoadError(
                f"could not load {base!r}: {cause}\n"
                f"Download it where the hub is reachable (hf download {base} --local-dir DIR), copy DIR here and pass "
                "--model hf:DIR; or serve it with vLLM or any OpenAI-compatible server and pass "
                "--model openai:<name>@http://host:port/v1."
            ) from error
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter)
            if hasattr(model, "merge_and_unload"):
                model = model.merge_and_unload()  # one set of weights: the paged engine runs it like any model
    finally:
        if bars_were_on is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                transformers_on, hub_on = bars_were_on
                if transformers_on:
                    hf_logging.enable_progress_bar()  # re-enables huggingface_hub's too
                if hub_on:
                    hub_utils.enable_progress_bars()
                elif transformers_on:
                    hub_utils.disable_progress_bars()  # it was off before: keep it off
    model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer, model
