#!/usr/bin/env bash
# Make the two benchmark virtual environments (idempotent): bench/.venv-devinterp2 (devinterp 2.0.1)
# and bench/.venv-devinterp1 (devinterp 1.3.2), each with the exact torch of the project and
# patterning_core installed editable without its dependencies. A venv is rebuilt only when its
# requirements file changed (the stamp holds the file's sha256).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
for v in 2 1; do
  venv=.venv-devinterp$v
  req=requirements-devinterp-$v.txt
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$want" ]; then
    echo "bench/$venv is up to date"
    continue
  fi
  echo "installing bench/$venv from bench/$req ..."
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --no-compile -r "$req"
  # patterning_core from this checkout (relative path), without touching the pins above
  "$venv/bin/python" -m pip install --quiet --no-compile --no-deps -e ..
  # what patterning_core itself imports beyond torch, if devinterp did not already bring it
  "$venv/bin/python" -c "import tqdm, numpy, tokenizers" 2>/dev/null || \
    "$venv/bin/python" -m pip install --quiet --no-compile tqdm numpy tokenizers
  echo "$want" > "$venv/.installed"
done
