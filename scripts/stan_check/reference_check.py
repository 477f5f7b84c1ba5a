#!/usr/bin/env python3
"""`refinestat sample` against posteriordb's reference posteriors (and, with --pystan, PyStan's
warm sampling side by side: ESS per second).

For each posterior of a posteriordb checkout that has reference draws
(`reference_posteriors/draws/draws/NAME.json.zip`: 10 chains x 1000 thinned draws of Stan's NUTS)
and a data file, and whose program `refinestat check --data` accepts:

  * refinestat: `refinestat sample MODEL --data DATA --seed S --output-dir DIR` with the default
    settings (4 chains x 1000 warmup + 1000 draws), timed as a whole process; summary.json gives
    each quantity's mean, MCSE of the mean and bulk ESS.
  * the check, per quantity in both (parameters, transformed parameters, generated quantities):
    z = |ours - reference mean| / sqrt(mcse_ours^2 + mcse_ref^2), with mcse_ref = reference sd /
    sqrt(reference bulk ESS from the info file); a posterior matches when every z <= 4.
  * with --pystan: PyStan 3 builds the same program (its own cache directory, default -O3, outside
    the timing), then samples it twice with the same settings; the second call is timed (warm),
    and min bulk ESS (ArviZ) / that time is its ESS/s, against ours: min bulk ESS over the same
    quantities / the sampling part of our run (process time minus `refinestat check` time).

The user fetches posteriordb (nothing here downloads anything):

    git clone https://github.com/stan-dev/posteriordb
    cargo build --release -p refinestat
    python3 scripts/stan_check/reference_check.py --posteriordb posteriordb/posterior_database \
        --refinestat target/release/refinestat --work /tmp/ref-check --out docs/reference-check-results
    # with PyStan (scripts/stan_check/requirements.txt plus arviz) for the ESS/s columns:
    /tmp/stan-venv/bin/python scripts/stan_check/reference_check.py ... --pystan

Writes OUT.md (the table) and OUT.json (every figure). Resumable: each posterior's result is
cached under --work.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

Z_MAX = 4.0
# Below this bulk ESS a "match" says little (the MCSE is wide): such a run is reported as
# unreliable, not as a match.
MIN_ESS = 100.0


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def unzip(path):
    with zipfile.ZipFile(path) as f:
        return f.read(f.namelist()[0]).decode()


def reference(pdb, name):
    """Reference mean and MCSE per quantity."""
    chains = json.loads(unzip(pdb / "reference_posteriors" / "draws" / "draws" / f"{name}.json.zip"))
    info = json.loads((pdb / "reference_posteriors" / "draws" / "info" / f"{name}.info.json").read_text())
    diag = info["diagnostics"]
    ess = dict(zip(diag["diagnostic_information"]["names"], diag["effective_sample_size_bulk"]))
    out = {}
    for key in chains[0]:
        xs = [x for c in chains for x in c[key]]
        n = len(xs)
        mean = sum(xs) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
        out[key] = {"mean": mean, "sd": sd, "mcse": sd / math.sqrt(max(ess.get(key, n), 1.0))}
    return out


def run(cmd, timeout):
    t = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - t


def ours(args, program, data, work):
    out_dir = work / "out"
    done, wall = run([args.refinestat, "sample", str(program), "--data", str(data), "--seed",
                      str(args.seed), "--output-dir", str(out_dir), "--overwrite"], args.timeout)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-400:]}
    _, check_wall = run([args.refinestat, "check", str(program), "--data", str(data)], 600)
    summary = json.loads((out_dir / "summary.json").read_text())
    return {"wall": wall, "sampling": max(wall - check_wall, 1e-3),
            "params": {k: {"mean": v["mean"], "mcse": v["mcse_mean"], "ess_bulk": v["ess_bulk"]}
                       for k, v in summary["parameters"].items()},
            "divergences": summary.get("divergences")}


def pystan(program_text, data, seed, cache):
    """Warm sampling time and min bulk ESS per quantity of PyStan 3 (the second of two calls)."""
    os.environ["XDG_CACHE_HOME"] = str(cache)
    import arviz as az
    import stan

    posterior = stan.build(program_text, data=data, random_seed=seed)
    posterior.sample(num_chains=4, num_warmup=1000, num_samples=1000)  # compile + first call
    t = time.monotonic()
    import dataclasses
    fit = dataclasses.replace(posterior, random_seed=seed + 1000).sample(
        num_chains=4, num_warmup=1000, num_samples=1000)
    seconds = time.monotonic() - t
    idata = az.from_pystan(posterior=fit)
    ess = az.ess(idata, method="bulk")
    flat = {}
    for var in ess.data_vars:
        values = ess[var].values
        if values.ndim == 0:
            flat[var] = float(values)
        else:
            import numpy as np
            for idx in np.ndindex(values.shape):
                # Stan's column-major names: theta[1], L[2,1].
                flat[f"{var}[{','.join(str(i + 1) for i in idx)}]"] = float(values[idx])
    return {"sampling": seconds, "ess_bulk": flat}


def one(args, pdb, name, work):
    post = json.loads((pdb / "posteriors" / f"{name}.json").read_text())
    row = {"posterior": name}
    data_zip = pdb / "data" / "data" / f"{post['data_name']}.json.zip"
    if not data_zip.exists():
        return {**row, "status": "no data"}
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data.json"
    data.write_text(unzip(data_zip))
    program = pdb / "models" / "stan" / f"{post['model_name']}.stan"
    done, _ = run([args.refinestat, "check", str(program), "--data", str(data)], 600)
    if done.returncode != 0:
        return {**row, "status": "refused", "reason": done.stderr.strip().splitlines()[-1][:200]}
    ref = reference(pdb, name)
    got = ours(args, program, data, work)
    if "error" in got:
        return {**row, "status": "fail", "reason": got["error"]}
    zs = {}
    for key, r in ref.items():
        o = got["params"].get(key)
        if o is None or o["mean"] is None:
            continue
        se = math.sqrt((o["mcse"] or 0.0) ** 2 + r["mcse"] ** 2)
        diff = abs(o["mean"] - r["mean"])
        zs[key] = diff / se if se > 0 else (0.0 if diff < 1e-12 else math.inf)
    worst = max(zs, key=zs.get) if zs else None
    compared = list(zs)
    ess_ours = min((got["params"][k]["ess_bulk"] or 0.0) for k in compared) if compared else None
    status = "ok" if zs and zs[worst] <= Z_MAX else "mismatch"
    if status == "ok" and (ess_ours or 0.0) < MIN_ESS:
        status = "unreliable"
    row.update(status=status, quantities=len(zs),
               worst=worst, z_max=zs[worst] if worst else None, wall=got["wall"],
               sampling=got["sampling"], min_ess_bulk=ess_ours,
               ess_per_s=ess_ours / got["sampling"] if ess_ours else None,
               divergences=got["divergences"])
    if args.pystan:
        try:
            ps = pystan(program.read_text(), json.loads(data.read_text()), args.seed,
                        Path(args.work) / "httpstan-cache")
            ess_ps = min(ps["ess_bulk"].get(k, math.inf) for k in compared)
            row.update(pystan_sampling=ps["sampling"], pystan_min_ess_bulk=ess_ps,
                       pystan_ess_per_s=ess_ps / ps["sampling"])
        except Exception as e:  # a PyStan failure is a row, not the end of the run
            row["pystan_error"] = str(e)[-300:]
    return row


def fmt(x, d=2):
    return "—" if x is None else f"{x:.{d}f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--posteriordb", type=Path, required=True)
    p.add_argument("--refinestat", default="target/release/refinestat")
    p.add_argument("--work", type=Path, default=Path("/tmp/ref-check"))
    p.add_argument("--out", type=Path, default=Path("docs/reference-check-results"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=int, default=1800)
    p.add_argument("--pystan", action="store_true")
    p.add_argument("--only", nargs="*", help="posterior names (default: every one with draws)")
    args = p.parse_args()
    pdb = args.posteriordb
    names = sorted(f.name[: -len(".json.zip")]
                   for f in (pdb / "reference_posteriors" / "draws" / "draws").glob("*.json.zip"))
    if args.only:
        names = [n for n in names if n in args.only]
    rows = []
    for name in names:
        cache = args.work / "results" / f"{name}{'.pystan' if args.pystan else ''}.json"
        if cache.exists():
            row = json.loads(cache.read_text())
            if row["status"] == "ok" and (row.get("min_ess_bulk") or 0.0) < MIN_ESS:
                row["status"] = "unreliable"
        else:
            log(f"{name} ...")
            row = one(args, pdb, name, args.work / "posteriors" / name)
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(row, indent=1))
        log(f"{name}: {row['status']} z_max={fmt(row.get('z_max'))} "
            f"ESS/s={fmt(row.get('ess_per_s'), 0)} pystan={fmt(row.get('pystan_ess_per_s'), 0)}")
        rows.append(row)
    lines = ["| posterior | status | quantities | worst | max z | divergences | wall s | min ESS bulk | "
             "ESS/s | PyStan ESS/s | ratio |", "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    ratios = []
    for r in rows:
        ratio = None
        if r.get("ess_per_s") and r.get("pystan_ess_per_s"):
            ratio = r["ess_per_s"] / r["pystan_ess_per_s"]
            ratios.append((ratio, r["posterior"]))
        lines.append(
            f"| {r['posterior']} | {r['status']}{': ' + r['reason'] if r.get('reason') else ''} | "
            f"{r.get('quantities', '—')} | {r.get('worst') or '—'} | {fmt(r.get('z_max'))} | "
            f"{r.get('divergences', '—')} | {fmt(r.get('wall'), 1)} | {fmt(r.get('min_ess_bulk'), 0)} | "
            f"{fmt(r.get('ess_per_s'), 0)} | {fmt(r.get('pystan_ess_per_s'), 0)} | {fmt(ratio)} |")
    ok = sum(r["status"] == "ok" for r in rows)
    ran = sum(r["status"] in ("ok", "mismatch", "unreliable") for r in rows)
    lines += ["", f"{ok} of {ran} sampled posteriors match the reference (every z <= {Z_MAX:g}, "
              f"min bulk ESS >= {MIN_ESS:g}); {len(rows)} posteriors with reference draws in the "
              "checkout."]
    if ratios:
        gm = math.exp(sum(math.log(x) for x, _ in ratios) / len(ratios))
        worst = min(ratios)
        lines.append(f"ESS/s ratio refinestat / PyStan (warm): geometric mean {gm:.2f} over "
                     f"{len(ratios)} posteriors; worst {worst[0]:.2f} ({worst[1]}).")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.md").write_text("\n".join(lines) + "\n")
    Path(f"{args.out}.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
