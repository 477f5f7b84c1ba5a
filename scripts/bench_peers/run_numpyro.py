"""NumPyro fit (jax on CPU, float64) of one benchmark model, then LOO.

Chains run with chain_method="parallel" over 4 XLA host devices: the driver sets
XLA_FLAGS=--xla_force_host_platform_device_count=4 (this script sets it too when missing, before
jax is imported). mcmc.run traces and JIT-compiles inside the call, so the first call's time
includes compilation. NumPyro re-traces (pmap of a fresh partial) on every mcmc.run, so to time
a call on an already compiled sampler (--second-fit) the script turns on JAX's persistent
compilation cache in a fresh per-process temporary directory: the first call compiles (cold, as
in default use) and fills it, the second call finds its executables there.
"""

import atexit
import os
import shutil
import tempfile

from common import CHAINS, DRAWS, WARMUP, Run

run = Run("numpyro")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={CHAINS}"
    ).strip()
import arviz as az  # noqa: E402
import jax  # noqa: E402
import numpyro  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

numpyro.enable_x64()  # double precision, as Stan, PyMC and refinestat use
xla_cache = tempfile.mkdtemp(prefix="bench_peers_xla_")
atexit.register(shutil.rmtree, xla_cache, ignore_errors=True)
jax.config.update("jax_compilation_cache_dir", xla_cache)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
from models_numpyro import model_and_args  # noqa: E402

run.mark("imported")
model, model_args = model_and_args(run.model, run.data)
mcmc = MCMC(
    NUTS(model),
    num_warmup=WARMUP,
    num_samples=DRAWS,
    num_chains=CHAINS,
    chain_method="parallel",
    progress_bar=False,
)
run.record["jax_devices"] = len(jax.devices())
run.mark("built")


def fit(seed):
    mcmc.run(jax.random.PRNGKey(seed), **model_args)
    jax.block_until_ready(mcmc.get_samples())


fit(run.args.seed)
run.mark("sampled")
idata = az.from_numpyro(mcmc)  # computes the pointwise log-likelihood of the observed site
run.summarize(idata, "")
run.mark("done")

if run.args.second_fit:
    run.mark("second_start")
    fit(run.args.seed + 1000)
    run.mark("second_sampled")
    run.summarize(az.from_numpyro(mcmc, log_likelihood=False), "second_")
run.write()
