"""Cross-check: the min bulk ESS and elpd_loo the benchmark reads from refinestat's summary.json
equal ArviZ's on refinestat's own CSVs (so ESS/s compares like with like across contenders).

Usage (repository root): .venv-peers/bin/python scripts/bench_peers/check_refinestat_vs_arviz.py
"""

import glob
import json
import subprocess
import sys
import tempfile

import arviz as az

from common import MODELS, REPO

EXAMPLES = {"eight_schools": "examples/eight_schools_noncentered.stan", "logistic": "examples/logistic.stan"}

worst = 0.0
for model, (data, ess_vars) in MODELS.items():
    with tempfile.TemporaryDirectory(dir="/dev/shm") as out:
        subprocess.run([str(REPO / "target/release/refinestat"), "sample", str(REPO / EXAMPLES[model]),
                        "--data", str(data), "--seed", "1", "--output-dir", out],
                       check=True, capture_output=True)
        idata = az.from_cmdstan(sorted(glob.glob(f"{out}/chain-*.csv")), log_likelihood="log_lik")
        ess = az.ess(idata, var_names=ess_vars, method="bulk")
        arviz_ess = min(float(ess[v].min()) for v in ess_vars)
        arviz_elpd = float(az.loo(idata).elpd_loo)
        summary = json.loads(open(f"{out}/summary.json").read())
        ours_ess = min(p["ess_bulk"] for n, p in summary["parameters"].items() if n.split("[")[0] in ess_vars)
        ours_elpd = summary["loo"]["elpd_loo"]
        rel = max(abs(ours_ess / arviz_ess - 1), abs(ours_elpd / arviz_elpd - 1))
        worst = max(worst, rel)
        print(f"{model}: min ess_bulk arviz {arviz_ess:.6f} refinestat {ours_ess:.6f}; "
              f"elpd_loo arviz {arviz_elpd:.9f} refinestat {ours_elpd:.9f}; max rel diff {rel:.1e}")
sys.exit(0 if worst < 1e-9 else 1)
