"""Cross-check the expert programs of the real-data benchmark in Stan itself (PyStan 3).

For each examples/real/NAME.stan this fits the program, with a `generated quantities` block that
adds the pointwise `log_lik` (restating the program's likelihood; nothing else changes), to
datasets/real/NAME.json with Stan's NUTS (4 chains x 1000 warmup + 1000 draws, seed 1) and computes
ELPD-LOO with ArviZ from Stan's draws. Writes examples/real/stan_crosscheck.json, which
examples/real/README.md compares with refinestat's own ELPD-LOO of the same program.

Usage (from the repository root; compiles 12 C++ models, several minutes):
    .venv/bin/pip install -r scripts/requirements-realdata.txt -r scripts/requirements-stan.txt
    .venv/bin/python scripts/realdata_stan_check.py [NAME ...]
"""

import json
import pathlib
import sys
import time

import arviz as az
import httpstan
import stan

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The pointwise log-likelihood of each program, as Stan statements inside `generated quantities`
# after `vector[N] log_lik;` (the likelihood of the model block, observation by observation).
LOG_LIK = {
    "cars": "for (n in 1:N) log_lik[n] = normal_lpdf(dist[n] | alpha + beta * speed[n], sigma);",
    "swiss": """{
    vector[N] mu = alpha + X * beta;
    for (n in 1:N) log_lik[n] = normal_lpdf(Fertility[n] | mu[n], sigma);
  }""",
    "birthwt": """{
    vector[N] eta = alpha + X * beta + race_effect[race];
    for (n in 1:N) log_lik[n] = bernoulli_logit_lpmf(low[n] | eta[n]);
  }""",
    "insurance": """{
    vector[N] eta = log_exposure + alpha + district_effect[District] + group_effect[Group]
                    + age_effect[Age];
    for (n in 1:N) log_lik[n] = poisson_log_lpmf(Claims[n] | eta[n]);
  }""",
    "quine": """{
    vector[N] eta = alpha + eth_effect[Eth] + sex_effect[Sex] + age_effect[Age] + lrn_effect[Lrn];
    for (n in 1:N) log_lik[n] = neg_binomial_2_log_lpmf(Days[n] | eta[n], phi);
  }""",
    "sleepstudy": """for (n in 1:N)
    log_lik[n] = normal_lpdf(Reaction[n] | alpha + u[1, Subject[n]]
                             + (beta + u[2, Subject[n]]) * Days[n], sigma);""",
    "penicillin": """for (n in 1:N)
    log_lik[n] = normal_lpdf(diameter[n] | mu + sigma_plate * z_plate[plate[n]]
                             + sigma_sample * z_sample[sample[n]], sigma);""",
    "lakehuron": """{
    vector[N] trend = alpha + beta * t;
    log_lik[1] = normal_lpdf(value[1] | trend[1], sigma / sqrt(1 - square(phi)));
    for (n in 2:N)
      log_lik[n] = normal_lpdf(value[n] | trend[n] + phi * (value[n - 1] - trend[n - 1]), sigma);
  }""",
    "mammals": "for (n in 1:N) log_lik[n] = lognormal_lpdf(brain[n] | alpha + beta * log_body[n], sigma);",
    "menarche": """for (n in 1:N)
    log_lik[n] = binomial_logit_lpmf(Menarche[n] | Total[n], alpha + beta * age_c[n]);""",
    "cbpp": """for (n in 1:N)
    log_lik[n] = binomial_logit_lpmf(incidence[n] | size[n], alpha + period_effect[period[n]]
                                     + sigma_herd * z_herd[herd[n]]);""",
    "trees": """for (n in 1:N)
    log_lik[n] = lognormal_lpdf(Volume[n] | alpha + beta_girth * log_girth[n]
                                + beta_height * log_height[n], sigma);""",
}


def main() -> None:
    names = sys.argv[1:] or list(LOG_LIK)
    out_path = ROOT / "examples" / "real" / "stan_crosscheck.json"
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    results["_about"] = {
        "pystan": stan.__version__ if hasattr(stan, "__version__") else "3.10.0",
        "httpstan": httpstan.__version__,
        "arviz": az.__version__,
        "sampler": "Stan NUTS, 4 chains, 1000 warmup + 1000 draws, random_seed 1",
        "script": "scripts/realdata_stan_check.py",
    }
    for name in names:
        program = (ROOT / "examples" / "real" / f"{name}.stan").read_text()
        program += "generated quantities {\n  vector[N] log_lik;\n  " + LOG_LIK[name] + "\n}\n"
        data = json.loads((ROOT / "datasets" / "real" / f"{name}.json").read_text())
        t0 = time.time()
        posterior = stan.build(program, data=data, random_seed=1)
        fit = posterior.sample(num_chains=4, num_warmup=1000, num_samples=1000)
        idata = az.from_pystan(posterior=fit, log_likelihood="log_lik")
        loo = az.loo(idata, pointwise=True)
        divergent = int(fit.to_frame()["divergent__"].sum())
        results[name] = {
            "elpd_loo": round(float(loo.elpd_loo), 3),
            "se": round(float(loo.se), 3),
            "p_loo": round(float(loo.p_loo), 3),
            "max_pareto_k": round(float(loo.pareto_k.max()), 3),
            "divergent": divergent,
            "seconds": round(time.time() - t0, 1),
        }
        print(name, results[name], flush=True)
        out_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
