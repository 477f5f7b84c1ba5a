"""PyStan 3 (httpstan) fit of one benchmark model: build (compile or cache hit), sample, LOO.

Cold versus warm is the driver's business: it points XDG_CACHE_HOME (where httpstan keeps its
compiled models) at an empty directory for a cold run and at a primed one for a warm run.
httpstan also caches *fits* keyed by (model, data, seed, arguments) and answers a repeated request
from that cache without sampling, so every timed run must use a seed of its own (the driver does).

The end-to-end path samples the program with a generated-quantities log_lik (for az.loo), whose
per-draw output and transfer through httpstan cost real time for the 1000-row logistic model. The
timed --second-fit samples the example program exactly as refinestat runs it (no log_lik; built
once in the warm-up round, a cache hit here), so its sampling time compares like with like.
"""

import dataclasses

from common import CHAINS, DRAWS, EXAMPLE_STAN_FILES, NO_LOG_LIK, STAN_FILES, WARMUP, Run

run = Run("pystan")
import arviz as az  # noqa: E402
import stan  # noqa: E402

run.mark("imported")
program = STAN_FILES[run.model].read_text()
posterior = stan.build(program, data=run.data, random_seed=run.args.seed)
run.mark("built")


def fit(model, seed):
    # The seed lives in the (frozen) model object that `build` returns.
    model = dataclasses.replace(model, random_seed=seed)
    return model.sample(num_chains=CHAINS, num_warmup=WARMUP, num_samples=DRAWS)


fit_ = fit(posterior, run.args.seed)
run.mark("sampled")
log_lik = None if run.model in NO_LOG_LIK else "log_lik"
idata = az.from_pystan(posterior=fit_, posterior_model=posterior, log_likelihood=log_lik)
run.summarize(idata, "")
run.mark("done")  # end to end: process start to posterior summary incl. LOO

if run.args.second_fit:
    plain = stan.build(EXAMPLE_STAN_FILES[run.model].read_text(), data=run.data)
    run.mark("second_start")
    fit2 = fit(plain, run.args.seed + 1000)
    run.mark("second_sampled")
    run.summarize(az.from_pystan(posterior=fit2, posterior_model=plain), "second_")
run.write()
