"""Generate the ArviZ reference fixtures for crates/diagnostics/tests/arviz.rs.

Each fixture holds deterministic synthetic draws (numpy seed per case), sampler energy,
pointwise log-likelihood, and ArviZ's own outputs for them. Run from the repository root:

    python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-arviz.txt
    .venv/bin/python scripts/make_arviz_fixtures.py

Writes crates/diagnostics/tests/data/arviz_<case>.json. Non-finite numbers are written as null
(JSON has no NaN); +inf Pareto k (tail too short to fit) is written as the string "inf".
"""

import json
import math
import os
import warnings

import arviz as az
import numpy as np
from scipy import stats

OUT_DIR = os.path.join("crates", "diagnostics", "tests", "data")


def clean(value):
    """Nested lists of floats with NaN -> None and +-inf -> "inf"/"-inf"."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [clean(v) for v in value]
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def ar1(rng, n_chains, n_draws, phi, offsets=None):
    """AR(1) chains with unit stationary variance; offsets shift each chain's mean."""
    out = np.empty((n_chains, n_draws))
    for c in range(n_chains):
        x = rng.normal()
        for d in range(n_draws):
            x = phi * x + math.sqrt(1 - phi * phi) * rng.normal()
            out[c, d] = x
        if offsets is not None:
            out[c] += offsets[c]
    return out


def energy_chains(rng, n_chains, n_draws, rho):
    """Energy with lag-1 correlation rho: BFMI falls as rho rises."""
    return np.stack([ar1(rng, 1, n_draws, rho)[0] * 3.0 + 20.0 for _ in range(n_chains)])


def normal_loglik(rng, mu, sigma, y):
    """log N(y_i | mu_s, sigma_s) as (chain, draw, obs)."""
    return stats.norm.logpdf(y[None, None, :], mu[:, :, None], sigma[:, :, None])


def case_well_mixed(rng):
    n_chains, n_draws, n_params, n_obs = 4, 1000, 4, 10
    post = {}
    for p in range(n_params):
        post[f"theta[{p + 1}]"] = ar1(rng, n_chains, n_draws, 0.1 * (p % 5)) * (1 + p) + p
    mu = 0.5 + 0.05 * rng.standard_normal((n_chains, n_draws))
    sigma = np.exp(0.05 * rng.standard_normal((n_chains, n_draws)))
    y = rng.normal(0.5, 1.0, n_obs)
    ll = normal_loglik(rng, mu, sigma, y)
    return post, energy_chains(rng, n_chains, n_draws, 0.2), ll


def case_badly_mixed(rng):
    n_chains, n_draws, n_obs = 4, 250, 20
    post = {
        "mu": ar1(rng, n_chains, n_draws, 0.5, offsets=[0.0, 0.5, 1.0, 3.0]),
        "tau": np.cumsum(rng.standard_normal((n_chains, n_draws)), axis=1),  # random walk
        "sticky": ar1(rng, n_chains, n_draws, 0.99),
        "ok": rng.standard_normal((n_chains, n_draws)),
    }
    mu = post["mu"] * 0.1
    sigma = np.ones((n_chains, n_draws))
    y = rng.normal(0.0, 1.0, n_obs)
    ll = normal_loglik(rng, mu, sigma, y)
    return post, energy_chains(rng, n_chains, n_draws, 0.9), ll


def case_single_chain(rng):
    n_chains, n_draws, n_obs = 1, 400, 10
    post = {"alpha": ar1(rng, n_chains, n_draws, 0.6), "beta": rng.gamma(2.0, 1.0, (1, n_draws))}
    mu = post["alpha"] * 0.1
    sigma = np.ones((n_chains, n_draws))
    y = rng.normal(0.0, 1.0, n_obs)
    ll = normal_loglik(rng, mu, sigma, y)
    return post, energy_chains(rng, n_chains, n_draws, 0.3), ll


def case_constant(rng):
    n_chains, n_draws, n_obs = 2, 100, 5
    post = {
        "fixed": np.full((n_chains, n_draws), 2.5),
        "zero": np.zeros((n_chains, n_draws)),
        "x": rng.standard_normal((n_chains, n_draws)),
    }
    ll = normal_loglik(
        rng, post["x"] * 0.1, np.ones((n_chains, n_draws)), rng.normal(0.0, 1.0, n_obs)
    )
    ll[:, :, 0] = -1.25  # constant log-lik: PSIS tail is empty, ArviZ gives k = inf
    return post, energy_chains(rng, n_chains, n_draws, 0.5), ll


def case_small(rng):
    n_chains, n_draws, n_obs = 2, 100, 8
    post = {"a": ar1(rng, n_chains, n_draws, 0.3), "b[1,1]": rng.exponential(1.0, (2, n_draws))}
    ll = normal_loglik(
        rng, post["a"] * 0.2, np.ones((n_chains, n_draws)), rng.normal(0.0, 1.0, n_obs)
    )
    return post, energy_chains(rng, n_chains, n_draws, 0.1), ll


def case_odd_draws(rng):
    n_chains, n_draws, n_obs = 3, 101, 6
    post = {"a": ar1(rng, n_chains, n_draws, 0.4), "skew": rng.lognormal(0.0, 1.0, (3, n_draws))}
    ll = normal_loglik(
        rng, post["a"] * 0.2, np.ones((n_chains, n_draws)), rng.normal(0.0, 1.0, n_obs)
    )
    return post, energy_chains(rng, n_chains, n_draws, 0.2), ll


def case_heavy_tail(rng):
    n_chains, n_draws, n_obs = 4, 250, 30
    post = {"mu": ar1(rng, n_chains, n_draws, 0.2), "log_sigma": ar1(rng, n_chains, n_draws, 0.2)}
    mu = 0.2 * post["mu"]
    sigma = np.exp(0.3 * post["log_sigma"])
    y = rng.normal(0.0, 1.0, n_obs)
    y[:4] = [6.0, -7.0, 9.0, 12.0]  # outliers: heavy-tailed importance ratios, k > 0.7
    ll = normal_loglik(rng, mu, sigma, y)
    # Directly heavy-tailed ratios for a few more observations.
    for i in range(4, 8):
        ll[:, :, i] = -np.abs(rng.standard_cauchy((n_chains, n_draws))) * (1.0 + i)
    return post, energy_chains(rng, n_chains, n_draws, 0.4), ll


CASES = {
    "well_mixed_4x1000": (case_well_mixed, 1),
    "badly_mixed_4x250": (case_badly_mixed, 2),
    "single_chain_1x400": (case_single_chain, 3),
    "constant_2x100": (case_constant, 4),
    "small_2x100": (case_small, 5),
    "odd_draws_3x101": (case_odd_draws, 6),
    "heavy_tail_4x250": (case_heavy_tail, 7),
}


def reference(post, energy, ll):
    idata = az.from_dict(
        posterior=post, sample_stats={"energy": energy}, log_likelihood={"y": ll}
    )
    rhat = az.rhat(idata, method="rank")
    ess_bulk = az.ess(idata, method="bulk")
    ess_tail = az.ess(idata, method="tail")
    ess_mean = az.ess(idata, method="mean")
    mcse = az.mcse(idata, method="mean")
    summ = az.summary(idata, round_to="none", kind="stats")
    params = {}
    for name, arr in post.items():
        q5, q50, q95 = np.quantile(arr, [0.05, 0.5, 0.95])
        params[name] = {
            "mean": clean(summ.loc[name, "mean"]),
            "sd": clean(summ.loc[name, "sd"]),
            "q5": clean(q5),
            "q50": clean(q50),
            "q95": clean(q95),
            "mcse_mean": clean(mcse[name].values),
            "rhat": clean(rhat[name].values),
            "ess_bulk": clean(ess_bulk[name].values),
            "ess_tail": clean(ess_tail[name].values),
            "ess_mean": clean(ess_mean[name].values),
        }
    n_chains, n_draws = energy.shape
    n_samples = n_chains * n_draws
    # r_eff exactly as az.loo computes it when reff=None (arviz/stats/stats.py).
    if n_chains == 1:
        r_eff = 1.0
    else:
        r_eff = float(np.mean([ess_mean[v].values for v in post]) / n_samples)
    loo = az.loo(idata, pointwise=True)
    loo_explicit = az.loo(idata, pointwise=True, reff=r_eff)
    assert loo_explicit.elpd_loo == loo.elpd_loo or math.isnan(loo.elpd_loo)
    return params, {
        "bfmi": clean(az.bfmi(idata)),
        "loo": {
            "elpd_loo": clean(loo.elpd_loo),
            "se": clean(loo.se),
            "p_loo": clean(loo.p_loo),
            "pareto_k": clean(loo.pareto_k.values),
            "loo_i": clean(loo.loo_i.values),
            "k_threshold": clean(loo.good_k),
            "r_eff": clean(r_eff),
        },
    }


def main():
    warnings.simplefilter("ignore")
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, (make, seed) in CASES.items():
        rng = np.random.default_rng(seed)
        post, energy, ll = make(rng)
        # Round the inputs so the fixtures stay small; the references are computed from exactly
        # the rounded numbers written to the file (rounding also creates a few rank ties).
        post = {k: np.round(v, 6) for k, v in post.items()}
        energy = np.round(energy, 6)
        ll = np.round(ll, 6)
        params, rest = reference(post, energy, ll)
        n_chains, n_draws = energy.shape
        fixture = {
            "case": name,
            "arviz_version": az.__version__,
            "names": list(post),
            # draws[chain][draw][param], the layout of a CmdStan CSV row
            "draws": clean(np.stack([post[k] for k in post], axis=-1)),
            "energy": clean(energy),
            "log_lik": clean(ll),
            "expected": {"parameters": params, **rest},
        }
        path = os.path.join(OUT_DIR, f"arviz_{name}.json")
        with open(path, "w") as f:
            json.dump(fixture, f, separators=(",", ":"))
        print(f"{path}: {n_chains}x{n_draws}, k>0.7: "
              f"{sum(1 for k in rest['loo']['pareto_k'] if k is None or k == 'inf' or k > 0.7)}")


def cmdstan_reference():
    """ArviZ's own reading of the committed CmdStan CSV fixture (two chains)."""
    folder = os.path.join(OUT_DIR, "cmdstan")
    files = [os.path.join(folder, f"chain-{c}.csv") for c in (1, 2)]
    idata = az.from_cmdstan(posterior=files, log_likelihood="log_lik")
    rhat = az.rhat(idata, method="rank")
    ess_bulk = az.ess(idata, method="bulk")
    ess_tail = az.ess(idata, method="tail")
    mcse = az.mcse(idata, method="mean")
    loo = az.loo(idata, pointwise=True)
    params = {}
    for var in idata.posterior.data_vars:
        values = idata.posterior[var].values  # (chain, draw, *shape)
        for index in np.ndindex(values.shape[2:]):
            name = var if not index else f"{var}[{','.join(str(i + 1) for i in index)}]"
            sel = (slice(None), slice(None)) + index
            params[name] = {
                "mean": clean(values[sel].mean()),
                "rhat": clean(rhat[var].values[index]),
                "ess_bulk": clean(ess_bulk[var].values[index]),
                "ess_tail": clean(ess_tail[var].values[index]),
                "mcse_mean": clean(mcse[var].values[index]),
            }
    out = {
        "arviz_version": az.__version__,
        "parameters": params,
        "divergences": int(idata.sample_stats.diverging.values.sum()),
        "bfmi": clean(az.bfmi(idata)),
        "loo": {
            "elpd_loo": clean(loo.elpd_loo),
            "se": clean(loo.se),
            "p_loo": clean(loo.p_loo),
            "pareto_k": clean(loo.pareto_k.values),
        },
    }
    with open(os.path.join(folder, "arviz_expected.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
    cmdstan_reference()
