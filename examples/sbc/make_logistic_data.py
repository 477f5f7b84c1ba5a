"""Writes logistic_regression.json: a fixed 50 x 2 design (standard normal, 3 decimals, seed 20)
and placeholder outcomes y, which `refinestat sbc` replaces by simulated ones.

Run: python3 examples/sbc/make_logistic_data.py (standard library only)."""
import json
import os
import random

rng = random.Random(20)
N, K = 50, 2
X = [[round(rng.gauss(0.0, 1.0), 3) for _ in range(K)] for _ in range(N)]
y = [i % 2 for i in range(N)]
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "logistic_regression.json")
with open(path, "w") as f:
    f.write('{\n  "N": %d,\n  "K": %d,\n  "X": [\n' % (N, K))
    f.write(",\n".join("    " + json.dumps(row) for row in X))
    f.write('\n  ],\n  "y": %s\n}\n' % json.dumps(y))
