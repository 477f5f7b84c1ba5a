"""nutpie fit of one benchmark model (PyMC model compiled by nutpie's numba backend), then LOO.

nutpie's Stan backend needs bridgestan plus the Stan/CmdStan sources, downloaded at first use,
which this offline machine cannot do; so nutpie samples the PyMC model of models_pymc.py.
compile_pymc_model (numba JIT, no on-disk cache) is the build step; nutpie.sample is the timed
sampling call.
"""

from common import CHAINS, DRAWS, NO_LOG_LIK, WARMUP, Run

run = Run("nutpie")
import arviz as az  # noqa: E402, F401  (imported here so its cost lands in the import phase)
import nutpie  # noqa: E402
import pymc as pm  # noqa: E402

from models_pymc import BUILDERS  # noqa: E402

run.mark("imported")
model = BUILDERS[run.model](run.data)
compiled = nutpie.compile_pymc_model(model)
run.mark("built")


def fit(seed):
    return nutpie.sample(
        compiled, draws=DRAWS, tune=WARMUP, chains=CHAINS, seed=seed, progress_bar=False
    )


idata = fit(run.args.seed)
run.mark("sampled")
if run.model not in NO_LOG_LIK:
    pm.compute_log_likelihood(idata, model=model, progressbar=False)
run.summarize(idata, "")
run.mark("done")

if run.args.second_fit:
    run.mark("second_start")
    idata2 = fit(run.args.seed + 1000)
    run.mark("second_sampled")
    run.summarize(idata2, "second_")
run.write()
