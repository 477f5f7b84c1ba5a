"""PyMC versions of the two benchmark models (used by run_pymc.py and run_nutpie.py).

Same densities as the Stan programs: tau ~ cauchy(0, 5) with <lower=0> is a half-Cauchy(5);
theta is a Deterministic so it is reported like Stan's transformed parameter.
"""

import numpy as np
import pymc as pm


def eight_schools(data: dict) -> pm.Model:
    y = np.asarray(data["y"], dtype=float)
    sigma = np.asarray(data["sigma"], dtype=float)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta_tilde = pm.Normal("theta_tilde", 0.0, 1.0, shape=data["J"])
        theta = pm.Deterministic("theta", mu + tau * theta_tilde)
        pm.Normal("y", theta, sigma, observed=y)
    return model


def logistic(data: dict) -> pm.Model:
    x = np.asarray(data["X"], dtype=float)
    y = np.asarray(data["y"], dtype=int)
    with pm.Model() as model:
        alpha = pm.Normal("alpha", 0.0, 2.5)
        beta = pm.Normal("beta", 0.0, 2.5, shape=data["K"])
        pm.Bernoulli("y", logit_p=alpha + pm.math.dot(x, beta), observed=y)
    return model


BUILDERS = {"eight_schools": eight_schools, "logistic": logistic, "logistic_100k": logistic}
