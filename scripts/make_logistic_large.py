"""Write a simulated logistic regression with N rows and K = 5 predictors as Stan JSON, for the
scale benchmarks of BENCHMARKS.md (issue 17): the truth of examples/logistic.stan's data
(alpha = 0.3, beta = [1, -0.5, 0.25, 0, 0.75], X standard normal), drawn with Python's own
`random` (standard library only, so it runs anywhere), seeded by N.

Usage: python3 scripts/make_logistic_large.py N OUT.json
"""

import math
import random
import sys

ALPHA = 0.3
BETA = [1.0, -0.5, 0.25, 0.0, 0.75]


def main() -> None:
    n, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(20261207 + n)
    rows, ys = [], []
    for _ in range(n):
        x = [rng.gauss(0.0, 1.0) for _ in BETA]
        eta = ALPHA + sum(b * v for b, v in zip(BETA, x))
        ys.append(1 if rng.random() < 1.0 / (1.0 + math.exp(-eta)) else 0)
        rows.append("[" + ",".join(repr(v) for v in x) + "]")
    with open(out, "w") as f:
        f.write(f'{{"N":{n},"K":{len(BETA)},"X":[')
        f.write(",".join(rows))
        f.write('],"y":[' + ",".join(map(str, ys)) + "]}\n")
    print(f"wrote {out}: N = {n}, mean y = {sum(ys) / n:.3f}")


if __name__ == "__main__":
    main()
