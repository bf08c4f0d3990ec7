"""A tiny request loop: the orchestrator (run_bench.py) sends one JSON line per task on stdin and
reads one JSON line back, so each side lives in its own long-running process (its own venv, its
own imports, its own peak-RSS counter) while the two sides' tasks can still be interleaved."""
from __future__ import annotations

import json
import os
import sys
import traceback


def serve(handlers: dict) -> None:
    from common import dumps

    out = os.fdopen(os.dup(1), "w")  # the reply channel
    os.dup2(2, 1)  # anything a library prints (progress bars, warnings) goes to stderr
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req["task"] == "exit":
            break
        try:
            reply = {"ok": True, **handlers[req["task"]](**req.get("args", {}))}
        except Exception:  # report, keep serving
            reply = {"ok": False, "error": traceback.format_exc()}
        out.write(dumps(reply) + "\n")
        out.flush()
