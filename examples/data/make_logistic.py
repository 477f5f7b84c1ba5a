"""Writes logistic_1000x5.json: data for examples/logistic.stan (1000 rows, 5 predictors).

Deterministic: Python's own Mersenne Twister (random.Random, stable across versions for a given
integer seed), standard normal predictors, true alpha = 0.3 and beta = (1, -0.5, 0.25, 0, 2),
y ~ bernoulli(inv_logit(alpha + X beta)). Predictors are rounded to 6 decimals.

    python3 examples/data/make_logistic.py > examples/data/logistic_1000x5.json
"""

import json
import math
import random

N, K = 1000, 5
ALPHA = 0.3
BETA = [1.0, -0.5, 0.25, 0.0, 2.0]

rng = random.Random(20261121)
X = [[round(rng.gauss(0.0, 1.0), 6) for _ in range(K)] for _ in range(N)]
y = []
for row in X:
    eta = ALPHA + sum(b * x for b, x in zip(BETA, row))
    y.append(1 if rng.random() < 1.0 / (1.0 + math.exp(-eta)) else 0)

print(json.dumps({"N": N, "K": K, "X": X, "y": y}, separators=(",", ":")))
