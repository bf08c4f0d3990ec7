# The patterning companion: two commands on a fresh machine (Python 3.11, no GPU needed):
#   make book   build the HTML book (every chapter run at the ci preset) -> _build/html/index.html
#   make test   unit tests, slow tests, then the notebooks, the book and its offline check
# Other targets: venv, notebooks, chapter NAME=... [PRESET=ci|paper], clean.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PRESET ?= ci

.PHONY: venv notebooks book chapter test unit slow clean

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
	$(PY) scripts/run_notebooks.py --preset ci

book: notebooks
	$(PY) scripts/build_book.py

chapter: venv
	@test -n "$(NAME)" || { echo "usage: make chapter NAME=01_tms_development [PRESET=ci|paper]"; exit 2; }
	$(PY) scripts/run_notebooks.py --only $(NAME) --preset $(PRESET)

unit: venv
	$(PY) -m pytest -m "not slow"

# pytest exits 5 when it selects no test; that is not a failure here.
slow: venv
	$(PY) -m pytest -m slow || test $$? -eq 5

test: unit slow book
	$(PY) -m pytest tests/test_book_offline.py

clean:
	rm -rf _build
