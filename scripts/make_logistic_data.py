"""Generate examples/data/logistic_1000x5.json, the data for examples/logistic.stan.

Deterministic: numpy's default_rng with a fixed seed. N=1000 rows, K=5 predictors, X standard
normal, true alpha=0.3, beta=[1, -0.5, 0.25, 0, 0.75], y ~ bernoulli_logit(alpha + X beta).

Usage: python scripts/make_logistic_data.py   (from the repository root; needs numpy only)
"""

import json
import pathlib

import numpy as np

SEED = 20261121
N, K = 1000, 5
ALPHA = 0.3
BETA = np.array([1.0, -0.5, 0.25, 0.0, 0.75])


def main() -> None:
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((N, K))
    eta = ALPHA + x @ BETA
    p = 1.0 / (1.0 + np.exp(-eta))
    y = (rng.uniform(size=N) < p).astype(int)
    data = {
        "N": N,
        "K": K,
        # 17 significant digits round-trip every double exactly.
        "X": [[float(f"{v:.17g}") for v in row] for row in x],
        "y": [int(v) for v in y],
    }
    out = pathlib.Path(__file__).resolve().parent.parent / "examples" / "data" / "logistic_1000x5.json"
    out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {out} (mean y = {y.mean():.3f})")


if __name__ == "__main__":
    main()
