# Two commands do all the set-up on a fresh machine:
#   make run    installs what is needed and evaluates the default model in-process
#   make test   installs what is needed and runs the offline test suite
#   make demo   installs what is needed and evaluates a tiny random-weight model (under a minute, offline)
# The install steps run again only when pyproject.toml changes (stamps under .make/; `make install` forces one).
PYTHON ?= python3
MODEL ?= hf:deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B
BENCHMARK ?= default
OUT ?= runs/default
# A local benchmark mirror (<benchmark>/<file>) is used when one sits beside the project (or at
# $THINKSAFE_DATA_DIR); without one, the benchmark files are fetched into the user cache first.
DATA_DIR ?= $(firstword $(wildcard $(THINKSAFE_DATA_DIR)) $(wildcard ../shared/data))
STAMPS := .make
# one quick connect: is the host of the pinned data files reachable? (no retry storm when it is not)
NETWORK_PROBE = $(PYTHON) -c "import socket; socket.create_connection(('raw.githubusercontent.com', 443), 3).close()" 2>/dev/null

.PHONY: install install-test run test demo

# torch first, so an existing build (CPU or CUDA) is kept; on a machine without one,
# pip picks the build its index offers.
install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.0" || $(PYTHON) -m pip install torch
	$(PYTHON) -c "import setuptools, wheel" 2>/dev/null || $(PYTHON) -m pip install setuptools wheel
	$(PYTHON) -m pip install --no-build-isolation -e ".[hf]"
	@mkdir -p $(STAMPS) && touch $(STAMPS)/install

install-test: $(STAMPS)/install
	$(PYTHON) -m pip install --no-build-isolation -e ".[hf,test,train]"
	@mkdir -p $(STAMPS) && touch $(STAMPS)/install-test

$(STAMPS)/install: pyproject.toml
	@$(MAKE) --no-print-directory install

$(STAMPS)/install-test: pyproject.toml $(STAMPS)/install
	@$(MAKE) --no-print-directory install-test

run: $(STAMPS)/install
	$(if $(DATA_DIR),,$(PYTHON) -m thinksafe data fetch --benchmark $(BENCHMARK))
	$(PYTHON) -m thinksafe eval --model $(MODEL) --benchmark $(BENCHMARK) --out $(OUT) --cpu-budget $(if $(DATA_DIR),--data-dir $(DATA_DIR))

# Without a mirror the tests read what `data fetch` put in the user cache; what is still missing is skipped
# (one line at the end says how many). A failed fetch does not stop the tests; no tests collected (exit 5) does.
test: $(STAMPS)/install-test
	$(if $(DATA_DIR),,($(NETWORK_PROBE) && $(PYTHON) -m thinksafe data fetch --timeout 20) || echo "note: benchmark data not fetched (no mirror, network unreachable or a download failed)")
	$(PYTHON) -m pytest

demo: $(STAMPS)/install
	$(PYTHON) -m thinksafe demo --out runs/demo $(if $(DATA_DIR),--data-dir $(DATA_DIR))
