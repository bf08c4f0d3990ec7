# The patterning companion: two commands on a fresh machine (Python 3.11, no GPU needed):
#   make book   build the HTML book (every chapter run at the ci preset) -> _build/html/index.html
#   make test   unit tests, slow tests, then the notebooks, the book, its offline and browser checks
# Other targets: venv, notebooks, chapter NAME=... [PRESET=ci|paper|smoke] [DEVICE=auto|cpu|cuda],
#   paper NAME=... [DEVICE=...] (run one chapter at the paper preset and commit-ready store it in
#   results/paper/), paper-all, gpu-check (on a CUDA machine), corpus, lm-retraining, lm-retraining-long, lm-ctx64-long, bench, chromium,
#   browser, clean.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PRESET ?= ci
# The chapters' device parameter: auto is cuda when torch sees one, else cpu.
DEVICE ?= auto
# Paper runs go to their own build folder (the ci runs in _build/notebooks/ stay what the book
# shows) and are kept, slimmed and with their provenance, in the committed results/paper/.
PAPER_RESULTS := results/paper
# Debian's chromium, for the browser check; installed with apt when missing, never downloaded
# from anywhere else. apt needs root: sudo is used when not root.
CHROMIUM := /usr/bin/chromium
SUDO     := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: venv notebooks book chapter paper paper-all test unit slow chromium browser clean

venv: $(STAMP)

# Re-install when the pins or the package metadata change. --no-compile: byte-compiling all of
# torch at install time more than doubles the install (measured 93 s vs 218 s on 2 busy cores);
# the modules actually imported are compiled on first use instead.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

notebooks: venv
	$(PY) tools/run_notebooks.py --preset ci

book: notebooks
	$(PY) tools/build_book.py

chapter: venv
	@test -n "$(NAME)" || { echo "usage: make chapter NAME=01_tms_development [PRESET=ci|paper|smoke] [DEVICE=auto|cpu|cuda]"; exit 2; }
	$(PY) tools/run_notebooks.py --only $(NAME) --preset $(PRESET) --device $(DEVICE)

# One chapter at the paper preset -> results/paper/NAME.{json,ipynb} (claims + provenance, and the
# executed notebook with its figures scaled down); commit them to show them in the book.
paper: venv
	@test -n "$(NAME)" || { echo "usage: make paper NAME=01_tms_development [DEVICE=auto|cpu|cuda]"; exit 2; }
	$(PY) tools/run_notebooks.py --only $(NAME) --preset paper --device $(DEVICE) --out _build/paper --store $(PAPER_RESULTS)

# Every chapter at the paper preset, one at a time (hours on a CPU; see book/reproduce.md).
paper-all: venv
	$(PY) tools/run_notebooks.py --preset paper --device $(DEVICE) --out _build/paper --store $(PAPER_RESULTS)

unit: venv
	$(PY) -m pytest -m "not slow"

# pytest exits 5 when it selects no test; that is not a failure here.
slow: venv
	$(PY) -m pytest -m slow || test $$? -eq 5

# A file target: nothing to do (not even apt-get update) when chromium is already installed.
chromium: $(CHROMIUM)
$(CHROMIUM):
	@echo "installing Debian's chromium for the browser check (apt-get) ..."
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
	@test -x $(CHROMIUM) || { echo "apt-get installed chromium, but there is no $(CHROMIUM)"; exit 1; }

# Open every page of the built book (run `make book` first) in headless chromium.
browser: chromium venv
	$(PY) tools/browser_check.py --chromium $(CHROMIUM)

# chromium first, so that the browser checker's own tests (in `unit`) run rather than skip.
test: chromium unit slow book
	$(PY) -m pytest tests/test_book_offline.py
	$(PY) tools/browser_check.py --chromium $(CHROMIUM)

clean:
	rm -rf _build

# Side-by-side benchmark with devinterp (5-10 min, not part of `make test`) -> bench/results/latest.{md,json}, book/benchmarks.md
.PHONY: bench
bench: venv
	bash bench/run.sh

# One CUDA device, <= 5 minutes on an H100: the device tests (slow known-answer ones included),
# every chapter at the smoke preset, and the throughput table bench/results/gpu.md.
.PHONY: gpu-check
gpu-check: venv
	$(PY) bench/gpu_check.py --device cuda

# Chapter 5's offline retraining (issue 17; about 90 wall-minutes on 2 CPU cores, not part of `make test`):
# the step-4000 checkpoint as branch point, chapter 5's method at it (PC2 weights), then six weightings x
# three batch orders, 4,000 steps each, two processes, then PC2 of the SGLD response (8 chains/head x 200 draws) and its
# two weightings -> results/lm/ctx256_branch_{1,2,3,4}.json, ctx256_branch_pc2_step4000{,_sgld}.json.
LM256 := --data-dir data/lm --n-ctx 256 --batch-size 8
LMBRANCH := $(LM256) --start-step 4000 --base ctx256_branch --base-seed 0 --max-steps 8000 --threshold 0.3 --seeds 0 1 2
LMLONG := $(LM256) --start-step 4000 --base ctx256_branch --base-seed 0 --max-steps 13000 --threshold 0.3
# Session 7's twelve runs, then session 8's: shuffled, the SGLD PC2 of a second draw of contexts (_sgld1) and oracle_down.
LMRUNS ?= baseline:3 induce_sgld:3 repress_sgld:3 baseline:4 induce_sgld:4 repress_sgld:4 baseline:5 induce_sgld:5 repress_sgld:5 \
  oracle_up:3 oracle_up:4 oracle_up:5 \
  shuffled:3 shuffled:4 shuffled:5 induce_sgld1:3 repress_sgld1:3 induce_sgld1:4 repress_sgld1:4 induce_sgld1:5 repress_sgld1:5 \
  oracle_down:3 oracle_down:4 oracle_down:5
LMSGLD := --base ctx256_branch --step 4000 --data-dir data/lm --n-ctx 256 --ih 1 --pt 1 --sgld-chains 8 --sgld-draws 200 --obs 16
.PHONY: lm-retraining lm-retraining-long lm-ctx64-long
lm-retraining: venv
	$(PY) experiments/lm_ctx64_control.py run $(LM256) --import-checkpoint checkpoints/step4000.pt --out results/lm/ctx256_branch.json
	nice -n 10 $(PY) experiments/lm_ctx64_pc2.py --base ctx256_branch --step 4000 --data-dir data/lm --n-ctx 256 --ih 1 --pt 1
	nice -n 10 $(PY) experiments/lm_ctx64_pc2.py --base ctx256_branch --step 4000 --data-dir data/lm --n-ctx 256 --ih 1 --pt 1 --sgld-chains 8 --sgld-draws 200 --obs 16
	nice -n 10 $(PY) experiments/lm_ctx64_control.py run $(LMBRANCH) --conditions baseline oracle_up oracle_down --out results/lm/ctx256_branch_1.json & \
	nice -n 10 $(PY) experiments/lm_ctx64_control.py run $(LMBRANCH) --conditions shuffled induce repress --out results/lm/ctx256_branch_2.json & \
	wait
	nice -n 10 $(PY) experiments/lm_ctx64_control.py run $(LMBRANCH) --conditions induce_sgld --out results/lm/ctx256_branch_3.json & \
	nice -n 10 $(PY) experiments/lm_ctx64_control.py run $(LMBRANCH) --conditions repress_sgld --out results/lm/ctx256_branch_4.json & \
	wait
	$(PY) experiments/lm_ctx64_control.py report --out results/lm/ctx256_branch_[1-4].json --secondary 0.1 0.15

# Issue 17, sessions 7-8: the branch protocol to the issue's 0.3 on fresh batch orders 3-5 (9,000 steps a run,
# two runs at a time: about 75 wall-minutes per twelve runs on 2 cores; each SGLD PC2 about 33 CPU-minutes), merged into
# results/lm/ctx256_long.json (results/lm/README.md). LMRUNS="condition:seed ..." runs a subset and merges it in.
lm-retraining-long: venv
	test -f _build/lm_ctx64/ctx256_branch_seed0_step4000.pt || $(PY) experiments/lm_ctx64_control.py run $(LM256) --import-checkpoint checkpoints/step4000.pt --out results/lm/ctx256_branch.json
	test -f _build/lm_ctx64/pc2_weights_ctx256_branch_sgld_step4000.pt || nice -n 10 $(PY) experiments/lm_ctx64_pc2.py $(LMSGLD)
	test -f _build/lm_ctx64/pc2_weights_ctx256_branch_sgld1_step4000.pt || nice -n 10 $(PY) experiments/lm_ctx64_pc2.py $(LMSGLD) --sgld-draw 1
	echo $(LMRUNS) | tr ' ' '\n' | tr ':' ' ' | xargs -P 2 -L 1 sh -c 'nice -n 10 $(PY) experiments/lm_ctx64_control.py run $(LMLONG) \
	  --conditions $$0 --seeds $$1 --out results/lm/ctx256_long_$$0_$$1.json > _build/lm_ctx64/long_$$0_$$1.log 2>&1'
	$(PY) experiments/lm_ctx64_control.py merge --out $(wildcard results/lm/ctx256_long.json) \
	  $(foreach r,$(LMRUNS),results/lm/ctx256_long_$(subst :,_,$(r)).json) --merged results/lm/ctx256_long.json
	rm -f results/lm/ctx256_long_*_[0-9].json
	$(PY) experiments/lm_ctx64_control.py report --out results/lm/ctx256_long.json --secondary 0.1 0.15

# The 64-token baseline for 30,000 steps (about 16 CPU-minutes) -> results/lm/ctx64_long.json
lm-ctx64-long: venv
	nice -n 10 $(PY) experiments/lm_ctx64_control.py run --conditions baseline --seeds 0 --max-steps 30000 --save-every 1000 --out results/lm/ctx64_long.json

# Issue 17's corpus from pinned Debian 12 packages: apt-get download (~290 MB) into
# ~/.cache/patterning-corpus, the >= 50 M-token CPU build there, and the frozen subset committed
# in data/lm-debian/. CI never runs this. CORPUS_SIZE=gpu builds the >= 300 M-token GPU corpus (no subset).
.PHONY: corpus
CORPUS_SIZE ?= cpu
corpus: venv
	nice -n 10 $(PY) experiments/build_debian_corpus.py --size $(CORPUS_SIZE) $(if $(filter cpu,$(CORPUS_SIZE)),--subset-out data/lm-debian --subset-chars 8000000)
