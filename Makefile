# Two commands do all set-up: `make run` (the dashboard) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
PORT ?= 8501
# The address the dashboard listens on: this machine only. HOST=0.0.0.0 serves every network interface (read
# README's warning first: whoever reaches the port can start runs and read images under the allowed roots).
HOST ?= 127.0.0.1

.PHONY: run test demo bench clean-cache

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run dashboard.py --server.address $(HOST) --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m alcore run --data synthetic --sampler entropy --rounds 5

bench: $(STAMP)
	$(PY) benchmarks/bench_loop.py
	$(PY) benchmarks/bench_strategies.py
	$(PY) benchmarks/bench_demo.py

clean-cache:
	rm -rf .cache/alcore
