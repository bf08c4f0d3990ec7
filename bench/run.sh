#!/usr/bin/env bash
# Side-by-side benchmark with devinterp (what `make bench` runs). Not part of CI: ~10 min on 2 cores.
#   1. bench/setup.sh: the two devinterp venvs (idempotent; installs only on first use or when a pin changes)
#   2. bench/run_bench.py: all cases, both sides alternately -> bench/results/latest.md, latest.json
#   3. copy latest.md to book/benchmarks.md (the book's appendix page)
set -euo pipefail
cd "$(dirname "$0")/.."
test -x .venv/bin/python || { echo "bench: make the project venv first (make venv)"; exit 2; }
bash bench/setup.sh
.venv/bin/python bench/run_bench.py "$@"
cp bench/results/latest.md book/benchmarks.md  # the book's appendix page: the latest table, as measured
echo "bench: wrote bench/results/latest.md and book/benchmarks.md"
