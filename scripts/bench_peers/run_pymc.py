"""PyMC fit (its own NUTS, default C backend via PyTensor) of one benchmark model, then LOO.

pm.sample compiles the model's logp/gradient inside the call (PyTensor keeps compiled C modules
in its on-disk cache, so warm runs only pay graph rewriting); PyMC's own in-call measure of the
pure sampling loop is also recorded (idata.sample_stats.attrs["sampling_time"]).
The log-likelihood is computed after sampling (pm.compute_log_likelihood), outside the timed
sampling call, as refinestat computes its pointwise log-likelihood after sampling too.
cores=os.cpu_count(): PyMC's default, min(4, cpu_count // 2), assumes hyper-threads and would run
the 4 chains in one process on this 2-core machine, where every other peer uses both cores.
"""

import os

from common import CHAINS, DRAWS, NO_LOG_LIK, WARMUP, Run

run = Run("pymc")
import arviz as az  # noqa: E402
import pymc as pm  # noqa: E402

from models_pymc import BUILDERS  # noqa: E402

run.mark("imported")
model = BUILDERS[run.model](run.data)
run.mark("built")


def fit(seed):
    return pm.sample(
        draws=DRAWS,
        tune=WARMUP,
        chains=CHAINS,
        cores=os.cpu_count(),
        random_seed=seed,
        progressbar=False,
        compute_convergence_checks=False,
        model=model,
    )


idata = fit(run.args.seed)
run.mark("sampled")
run.record["pymc_sampling_time"] = float(idata.sample_stats.attrs["sampling_time"])
run.record["cores"] = os.cpu_count()
if run.model not in NO_LOG_LIK:
    pm.compute_log_likelihood(idata, model=model, progressbar=False)
run.summarize(idata, "")
run.mark("done")

if run.args.second_fit:
    run.mark("second_start")
    idata2 = fit(run.args.seed + 1000)
    run.mark("second_sampled")
    run.record["second_pymc_sampling_time"] = float(idata2.sample_stats.attrs["sampling_time"])
    run.summarize(idata2, "second_")
run.write()
