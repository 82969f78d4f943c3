# Two commands do all the set-up on a fresh machine:
#   make run    installs what is needed and evaluates the default model in-process
#   make test   installs what is needed and runs the offline test suite
PYTHON ?= python3
MODEL ?= hf:deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B
BENCHMARK ?= default
OUT ?= runs/default
# A local benchmark mirror (<benchmark>/<file>) is used when one sits beside the project.
DATA_DIR ?= $(firstword $(THINKSAFE_DATA_DIR) $(wildcard ../shared/data))

.PHONY: install install-test run test

# torch first, so an existing build (CPU or CUDA) is kept; on a machine without one,
# pip picks the build its index offers.
install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.0" || $(PYTHON) -m pip install torch
	$(PYTHON) -c "import setuptools, wheel" 2>/dev/null || $(PYTHON) -m pip install setuptools wheel
	$(PYTHON) -m pip install --no-build-isolation -e ".[hf]"

install-test: install
	$(PYTHON) -m pip install --no-build-isolation -e ".[hf,test,train]"

run: install
	$(PYTHON) -m thinksafe eval --model $(MODEL) --benchmark $(BENCHMARK) --out $(OUT) --cpu-budget $(if $(DATA_DIR),--data-dir $(DATA_DIR))

test: install-test
	$(PYTHON) -m pytest
