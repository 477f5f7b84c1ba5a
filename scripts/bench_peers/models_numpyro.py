"""NumPyro versions of the two benchmark models (used by run_numpyro.py). Same densities as the
Stan programs; theta is a deterministic site, reported like Stan's transformed parameter."""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist


def eight_schools(J, sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", J):
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_tilde)
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def logistic(X, y=None):
    n, k = X.shape
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 2.5))
    beta = numpyro.sample("beta", dist.Normal(0.0, 2.5).expand([k]).to_event(1))
    with numpyro.plate("N", n):
        numpyro.sample("y", dist.Bernoulli(logits=alpha + X @ beta), obs=y)


def model_and_args(name: str, data: dict):
    if name == "eight_schools":
        return eight_schools, {
            "J": data["J"],
            "sigma": jnp.asarray(data["sigma"], dtype=float),
            "y": jnp.asarray(data["y"], dtype=float),
        }
    return logistic, {"X": jnp.asarray(data["X"], dtype=float), "y": jnp.asarray(data["y"])}
