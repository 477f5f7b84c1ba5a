"""Generate crates/diagnostics/tests/data/loo_subsample_diff_srs.json: a reference for the
difference estimator of subsampled PSIS-LOO.

A pure-Python (standard library only) transcription of the R loo package's `srs_diff_est` and
`srs_est` (loo 2.x, R/loo_subsample.R; Magnusson, Andersen, Jonasson and Vehtari 2020, eqs. 7-9
with the supplement's sign), applied to deterministic inputs: N approximations of pointwise elpd
(`elpd_loo_approx`), a simple random sample without replacement of m observations, and their
exact elpd_i and p_loo_i. The Rust test (crates/diagnostics/tests/loo_scale.rs) feeds the same
inputs to `srs_diff_est` / `srs_est` / `subsampled_loo` and compares.

Usage: python3 scripts/make_loo_subsample_fixture.py   (from the repository root)
"""

import json
import math
import pathlib
import random

SEED = 20261207
N, M = 5000, 300


def mean(xs):
    return math.fsum(xs) / len(xs)


def var(xs):
    """R's var: ddof 1."""
    mu = mean(xs)
    return math.fsum((x - mu) ** 2 for x in xs) / (len(xs) - 1)


def srs_diff_est(y_approx, y, y_idx):
    n = len(y_approx)
    m = len(y)
    y_approx_m = [y_approx[i] for i in y_idx]
    e_i = [a - b for a, b in zip(y, y_approx_m)]
    t_pi_tilde = math.fsum(y_approx)
    t_pi2_tilde = math.fsum(a * a for a in y_approx)
    t_e = n * mean(e_i)
    t_hat_epsilon = n * mean([a * a - b * b for a, b in zip(y, y_approx_m)])
    y_hat = t_pi_tilde + t_e
    v_y_hat = n**2 * (1 - m / n) * var(e_i) / m
    hat_v_y = (t_pi2_tilde + t_hat_epsilon) - (1 / n) * (
        t_e**2 - v_y_hat + 2 * t_pi_tilde * y_hat - t_pi_tilde**2
    )
    return {"y_hat": y_hat, "v_y_hat": v_y_hat, "hat_v_y": hat_v_y}


def srs_est(y, n):
    m = len(y)
    return {"y_hat": n * mean(y), "v_y_hat": n**2 * (1 - m / n) * var(y) / m, "hat_v_y": n * var(y)}


def main() -> None:
    rng = random.Random(SEED)
    # Approximations like a logistic regression's plpd: log p in (-4, -0.01).
    approx = [math.log(rng.uniform(0.02, 0.99)) for _ in range(N)]
    idx = sorted(rng.sample(range(N), M))
    # Exact elpd_i a little below the approximation, with noise; p_loo_i small and positive.
    exact = [approx[i] - abs(rng.gauss(0.003, 0.004)) - 0.002 * approx[i] ** 2 for i in idx]
    p_loo = [abs(rng.gauss(0.002, 0.002)) for _ in idx]
    out = {
        "script": "scripts/make_loo_subsample_fixture.py",
        "seed": SEED,
        "n": N,
        "elpd_loo_approx": [float(f"{v:.17g}") for v in approx],
        "idx": idx,
        "elpd_loo": [float(f"{v:.17g}") for v in exact],
        "p_loo": [float(f"{v:.17g}") for v in p_loo],
        "elpd_loo_est": srs_diff_est(approx, exact, idx),
        "p_loo_est": srs_est(p_loo, N),
    }
    path = (
        pathlib.Path(__file__).resolve().parent.parent
        / "crates/diagnostics/tests/data/loo_subsample_diff_srs.json"
    )
    path.write_text(json.dumps(out, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path}: elpd_loo {out['elpd_loo_est']}")


if __name__ == "__main__":
    main()
