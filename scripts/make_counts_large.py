"""Write a simulated count dataset with N rows as CSV, for `synth` at scale (BENCHMARKS.md, issue 17):
a negative-binomial regression of `claims` on two numeric covariates (`age`, `exposure_km`, log
link) and a text grouping `region` of 12 levels with region effects, the way a user's file looks
(a header, one row per unit, the outcome not first). Python's own `random`, seeded by N, so it runs
anywhere and the same N gives the same bytes.

Usage: python3 scripts/make_counts_large.py N OUT.csv
"""

import math
import random
import sys

INTERCEPT = 0.4
B_AGE = -0.3        # per standard deviation of age
B_KM = 0.5          # per unit of log(exposure_km / 10000)
PHI = 4.0           # negative binomial dispersion
REGIONS = [f"R{k:02d}" for k in range(1, 13)]


def neg_binomial_2(rng: random.Random, mu: float, phi: float) -> int:
    # A gamma-Poisson mixture; Poisson by inversion (mu here stays below ~50).
    lam = rng.gammavariate(phi, mu / phi)
    k, p, u = 0, math.exp(-lam), rng.random()
    cdf = p
    while u > cdf and k < 10_000:
        k += 1
        p *= lam / k
        cdf += p
    return k


def main() -> None:
    n, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(20261207 + n)
    effect = {r: rng.gauss(0.0, 0.4) for r in REGIONS}
    with open(out, "w") as f:
        f.write("region,age,exposure_km,claims\n")
        total = 0
        for _ in range(n):
            region = rng.choice(REGIONS)
            age = round(rng.uniform(18, 80), 0)
            km = round(math.exp(rng.gauss(math.log(10000), 0.5)), 0)
            eta = (INTERCEPT + B_AGE * (age - 49) / 18 + B_KM * math.log(km / 10000)
                   + effect[region])
            y = neg_binomial_2(rng, math.exp(eta), PHI)
            total += y
            f.write(f"{region},{age:.0f},{km:.0f},{y}\n")
    print(f"wrote {out}: N = {n}, mean claims = {total / n:.3f}")


if __name__ == "__main__":
    main()
