"""Shared plumbing of the peer scripts: arguments, data, timestamps, the result file.

Kept free of heavy imports so that a peer script's own imports are what its timing shows.
Every timestamp is ``time.monotonic()`` (CLOCK_MONOTONIC on Linux, the same clock in every
process), so the driver can subtract its own spawn time from a child's marks.
"""

import argparse
import json
import os
import pathlib
import time

REPO = pathlib.Path(__file__).resolve().parents[2]

# Model name -> (data file, parameters whose minimum bulk ESS is reported). The parameter lists
# are the model's parameters and transformed parameters, exactly the columns refinestat's
# summary.json carries (log_lik excluded).
MODELS = {
    "eight_schools": (REPO / "datasets" / "eight_schools.json", ["mu", "tau", "theta_tilde", "theta"]),
    "logistic": (REPO / "examples" / "data" / "logistic_1000x5.json", ["alpha", "beta"]),
    # The scale issue's 10^5-row logistic regression: the same program on data made by
    # `python3 scripts/make_logistic_large.py 100000 FILE` (10 MB, not committed); the file is
    # $REFINESTAT_LOGISTIC_100K or the scale benchmark's default place.
    "logistic_100k": (
        pathlib.Path(os.environ.get("REFINESTAT_LOGISTIC_100K", "/tmp/scale_bench/logistic_100000.json")),
        ["alpha", "beta"],
    ),
}
# Models too large for a pointwise log-likelihood of every draw in the peers' memory (4000 draws x
# 10^5 rows is 3.2 GB of doubles, more through httpstan's JSON): their peers sample the plain
# program and skip PSIS-LOO; only sampling time and ESS are compared.
NO_LOG_LIK = {"logistic_100k"}
# The programs exactly as refinestat runs them (no log_lik block): PyStan's timed second fit.
EXAMPLE_STAN_FILES = {
    "eight_schools": REPO / "examples" / "eight_schools_noncentered.stan",
    "logistic": REPO / "examples" / "logistic.stan",
    "logistic_100k": REPO / "examples" / "logistic.stan",
}
# The same programs plus a generated quantities log_lik, which ArviZ's LOO needs.
STAN_FILES = {
    "eight_schools": REPO / "scripts" / "bench_peers" / "stan" / "eight_schools_noncentered.stan",
    "logistic": REPO / "scripts" / "bench_peers" / "stan" / "logistic.stan",
    "logistic_100k": REPO / "examples" / "logistic.stan",
}

CHAINS = 4
WARMUP = 1000
DRAWS = 1000


class Run:
    """Arguments, monotonic time marks and the result record of one peer process."""

    def __init__(self, peer: str) -> None:
        self.marks = {"start": time.monotonic()}
        parser = argparse.ArgumentParser(description=f"{peer}: fit one benchmark model")
        parser.add_argument("--model", choices=sorted(MODELS), required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--result", type=pathlib.Path, required=True, help="JSON written here")
        parser.add_argument(
            "--second-fit",
            action="store_true",
            help="after the end-to-end path, fit again in the same process and time that call "
            "(sampling time with every compilation already done)",
        )
        self.args = parser.parse_args()
        self.peer = peer
        self.model = self.args.model
        data_path, self.ess_vars = MODELS[self.model]
        self.data = json.loads(data_path.read_text())
        self.record = {"peer": peer, "model": self.model, "seed": self.args.seed}

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic()

    def summarize(self, idata, prefix: str) -> None:
        """Min bulk ESS over the reported parameters; PSIS-LOO when the idata has log_lik."""
        import arviz as az

        ess = az.ess(idata, var_names=self.ess_vars, method="bulk")
        self.record[f"{prefix}min_ess_bulk"] = float(min(float(ess[v].min()) for v in self.ess_vars))
        if prefix == "" and self.model not in NO_LOG_LIK:
            loo = az.loo(idata)
            self.record["elpd_loo"] = float(loo.elpd_loo)
            self.record["p_loo"] = float(loo.p_loo)
            self.record["max_pareto_k"] = float(loo.pareto_k.max())

    def write(self) -> None:
        self.record["marks"] = self.marks
        self.args.result.write_text(json.dumps(self.record, indent=1) + "\n")
