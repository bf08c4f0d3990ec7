"""Run the side-by-side benchmark with devinterp and write bench/results/latest.{md,json}.

Three worker processes -- ours (project venv), devinterp 2.0.1 and devinterp 1.3.2 (bench venvs
made by bench/setup.sh) -- receive tasks one at a time, alternating between the sides, so both
sides see the same machine load. Run via ``bash bench/run.sh`` (``make bench``).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import torch  # noqa: E402

import common as C  # noqa: E402

RESULTS = BENCH / "results"
PY = {
    "ours": C.REPO / ".venv" / "bin" / "python",
    "dv2": BENCH / ".venv-devinterp2" / "bin" / "python",
    "dv1": BENCH / ".venv-devinterp1" / "bin" / "python",
}
SCRIPT = {"ours": "side_ours.py", "dv2": "side_devinterp2.py", "dv1": "side_devinterp1.py"}
LABEL = {"ours": "patterning_core", "dv2": "devinterp 2.0.1", "dv1": "devinterp 1.3.2"}


class Worker:
    def __init__(self, side: str):
        C.RAW.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(C.THREADS), "MKL_NUM_THREADS": str(C.THREADS),
               "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1", "HF_DATASETS_OFFLINE": "1"}
        self.side = side
        self.log = open(C.RAW / f"{side}.log", "w")
        self.proc = subprocess.Popen([str(PY[side]), str(BENCH / SCRIPT[side])], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, cwd=BENCH)

    def __call__(self, task: str, **args) -> dict:
        t0 = time.perf_counter()
        self.proc.stdin.write(json.dumps({"task": task, "args": args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.side} worker died during {task}; see {C.RAW / (self.side + '.log')}")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise RuntimeError(f"{self.side} {task} failed:\n{reply['error']}")
        reply["wall"] = time.perf_counter() - t0
        print(f"  {LABEL[self.side]:>16} {task} {args or ''}: {reply.get('seconds', reply['wall']):.1f} s", flush=True)
        return reply

    def close(self) -> None:
        try:
            self.proc.stdin.write(json.dumps({"task": "exit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# --------------------------------------------------------------------------- statistics


def z(a: float, sa: float, b: float, sb: float) -> float:
    d = math.sqrt(sa * sa + sb * sb)
    return (a - b) / d if d > 0 else float("nan")


def pearson(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.double() - x.double().mean(), y.double() - y.double().mean()
    return float((x * y).sum() / (x.norm() * y.norm()))


def rms(x: torch.Tensor) -> float:
    return float(x.double().pow(2).mean().sqrt())


def sus_compare(dv: dict, ours: dict, heads: list[str]) -> dict:
    """Per head: the devinterp estimator on each side's samples, plus the sizes of the differences.

    The comparison uses one init loss L(w*) for both sides: ours, exact on the SGLD data (devinterp's
    is an estimate from its first 32 minibatches, and its estimator is sensitive to it through E[φ])."""
    out = {}
    L0 = ours["anchor_loss"]
    for h in heads:
        own = C.sus_variants(dv["moments"][h], dv["moments"]["full"], dv["init_loss"][h])  # devinterp's own L0
        a = C.sus_variants(dv["moments"][h], dv["moments"]["full"], L0)
        b = C.sus_variants(ours["moments"][h], ours["moments"]["full"], L0)
        dv_out = torch.as_tensor(dv["sus"][h], dtype=torch.float64)
        a_dv, b_dv = a["devinterp"], b["devinterp"]
        tz = (a_dv["value"] - b_dv["value"]) / (a_dv["se"] ** 2 + b_dv["se"] ** 2).sqrt()
        chi = torch.as_tensor(ours["chi_over_beta"][h], dtype=torch.float64)
        out[h] = {
            # checks of the shared estimator code against each library's own output
            "dv_reimpl_max_abs_diff": float((own["devinterp"]["value"] - dv_out).abs().max()),
            "ours_reimpl_max_abs_diff": float((b["ours"]["value"] - chi).abs().max()),
            "dv_reported_mean": float(dv_out.mean()),
            # the same (devinterp) estimator on devinterp's and on our samples, common L0
            "dv_mean": a_dv["token_mean"], "dv_mean_se": a_dv["token_mean_se"],
            "ours_mean": b_dv["token_mean"], "ours_mean_se": b_dv["token_mean_se"],
            "z_mean": z(a_dv["token_mean"], a_dv["token_mean_se"], b_dv["token_mean"], b_dv["token_mean_se"]),
            "r_tokens": pearson(a_dv["value"], b_dv["value"]),
            "frac_tokens_z_lt_2": float((tz.abs() < 2).double().mean()),
            # the covariance part alone (self-centred), on both sides' samples
            "selfcent_dv_mean": a["selfcent"]["token_mean"], "selfcent_dv_mean_se": a["selfcent"]["token_mean_se"],
            "selfcent_ours_mean": b["selfcent"]["token_mean"], "selfcent_ours_mean_se": b["selfcent"]["token_mean_se"],
            "r_tokens_selfcent": pearson(a["selfcent"]["value"], b["selfcent"]["value"]),
            # estimator differences, on our samples (devinterp's samples: *_dv)
            "centring_rms_rel": rms(b_dv["value"] - b["selfcent"]["value"]) / rms(b["selfcent"]["value"]),
            "centring_rms_rel_dv": rms(a_dv["value"] - a["selfcent"]["value"]) / rms(a["selfcent"]["value"]),
            "lmb_shift": float((b["ours"]["value"] - b["selfcent"]["value"]).mean()),
            "lmb_shift_rel": float((b["ours"]["value"] - b["selfcent"]["value"]).mean()) / rms(b["selfcent"]["value"]),
            "r_ours_vs_dvformula": pearson(b["ours"]["value"], b_dv["value"]),
            "ours_native_mean": float(chi.mean()), "ours_native_mean_se": b["ours"]["token_mean_se"],
        }
    out["_init_loss"] = {"devinterp": dv["init_loss"]["full"], "ours": L0}
    return out


# --------------------------------------------------------------------------- schedule


def main() -> None:
    t_start = time.perf_counter()
    info = C.machine_info()
    info["command"] = "bash bench/run.sh"
    info["threads"] = C.THREADS
    print(f"bench: {info['cpu']}, {info['cores']} cores, load {info['loadavg_start']}, torch {info['torch']}", flush=True)
    W = {s: Worker(s) for s in ("ours", "dv2", "dv1")}
    R: dict = {"machine": info, "plan": C.plan_dict()}
    try:
        R["prepare"] = W["ours"]("prepare")
        R["warmup"] = {s: W[s]("warmup") for s in ("dv2", "ours", "dv1")}

        print("case 1: LLC of the attention-only LM (devinterp 2.0.1)", flush=True)
        c1 = {}
        c1["dv"] = W["dv2"]("lm_llc", match=True)
        c1["ours"] = W["ours"]("lm_llc")
        c1["dv_indep"] = W["dv2"]("lm_llc", match=False)
        c1["ours_burnin"] = W["ours"]("lm_llc", burnin_in_average=True)
        c1["floor"] = W["ours"]("lm_floor")
        c1["dv_2t"] = W["dv2"]("lm_llc", match=True, threads=C.BOTH_CORES)
        c1["ours_2t"] = W["ours"]("lm_llc", threads=C.BOTH_CORES)
        c1["floor_2t"] = W["ours"]("lm_floor", threads=C.BOTH_CORES)
        R["case1"] = c1

        print("case 3: LLC of TMS (devinterp 1.3.2)", flush=True)
        c3 = {"dv": W["dv1"]("tms_llc"), "ours": W["ours"]("tms_llc"), "ours_exact": W["ours"]("tms_llc", exact_population=True),
              "dv_2t": W["dv1"]("tms_llc", threads=C.BOTH_CORES), "ours_2t": W["ours"]("tms_llc", threads=C.BOTH_CORES)}
        R["case3"] = c3

        print("case 2: per-head susceptibilities (devinterp 2.0.1)", flush=True)
        c2 = {"dv": W["dv2"]("lm_sus"), "ours": W["ours"]("lm_sus")}
        heads = [h for h, *_ in C.head_names(2, 4)]
        c2["compare"] = sus_compare(c2["dv"], c2["ours"], heads)
        for side in ("dv", "ours"):  # keep the JSON small: drop per-token vectors and moments
            c2[side] = {k: v for k, v in c2[side].items() if k not in ("moments", "sus", "chi_over_beta", "chi_se_over_beta")}
        R["case2"] = c2

        print("scaling: chains (LM)", flush=True)
        R["scale_lm_chains"] = []
        for c in C.SCALE_CHAINS:
            dv = W["dv2"]("lm_point", chains=c) if c <= C.DEVINTERP_LM_MAX_CHAINS else None
            R["scale_lm_chains"].append({"chains": c, "dv": dv, "ours": W["ours"]("lm_point", chains=c)})
        print("scaling: chains (TMS)", flush=True)
        R["scale_tms_chains"] = [{"chains": c, "dv": W["dv1"]("tms_point", chains=c), "ours": W["ours"]("tms_point", chains=c)}
                                 for c in C.SCALE_CHAINS]
        print("scaling: probe tokens (LM)", flush=True)
        R["scale_probe"] = []
        for p in C.SCALE_PROBE_TOKENS:
            dv = W["dv2"]("lm_point", chains=C.SCALE_PROBE_CHAINS, probe_tokens=p)
            R["scale_probe"].append({"probe_tokens": p, "dv": dv, "ours": W["ours"]("lm_point", chains=C.SCALE_PROBE_CHAINS, probe_tokens=p)})

        print("profile (ours)", flush=True)
        R["profile"] = {"lm": W["ours"]("profile", which="lm"), "tms": W["ours"]("profile", which="tms")}
    finally:
        for w in W.values():
            w.close()
    R["total_seconds"] = time.perf_counter() - t_start
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(C.dumps(R) + "\n")
    from report import markdown

    (RESULTS / "latest.md").write_text(markdown(json.loads(C.dumps(R))))
    print(f"wrote {RESULTS / 'latest.md'} and latest.json in {R['total_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
