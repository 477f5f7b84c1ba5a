#!/usr/bin/env python3
"""`refinestat logp` against Stan's log density and gradient on every posteriordb posterior.

For each posterior of a posteriordb checkout (`posterior_database/posteriors/*.json`: a model
and a dataset) whose program `refinestat check --data` accepts, this draws 5 points on the
unconstrained scale (uniform on (-2, 2) per coordinate, Stan's own range for random inits, from
a generator seeded by --seed and the posterior's name), and evaluates at each

  * Stan: the `log_prob` and `log_prob_grad` services of PyStan 3.10 / httpstan 4.13 (Stan 2.35),
    with `adjust_transform` true and false. These are exactly what PyStan's
    `Model.log_prob` / `grad_log_prob` call; they are called in-process, on the compiled
    extension module, to get the gradient without the Jacobian too (PyStan's `grad_log_prob`
    has no switch). Stan's `log_prob` here is `log_prob<propto=true>`: `~` statements drop
    their constant terms.
  * refinestat: `refinestat logp MODEL --data DATA --unconstrained X --propto` (the same
    convention), which prints lp / lp_jacobian and grad / grad_no_jacobian.

Relative error is |ours - stan| / max(|stan|, 1) (absolute below 1). The log density is
compared both as is ("lp") and as differences from the first point ("dlp": what a sampler sees),
because Stan's propto keeps a `~` term whose arguments are all constant when one of them is a
local or transformed-parameter variable (typed as an autodiff variable), which refinestat
drops; such a constant offset is reported, not counted as a failure. A posterior passes when
dlp and both gradients agree to 1e-8 at every point. A point where Stan throws (a rejection,
a non-finite density) is replaced by another draw; refinestat must fail there too.

The user fetches posteriordb (nothing here downloads anything); Stan models are compiled by
httpstan into its cache (~/.cache/httpstan) once, with --optimization (-O0 by default: the level
changes compile time, not what Stan computes).

    git clone https://github.com/stan-dev/posteriordb
    cargo build -p refinestat
    python3 -m venv /tmp/stan-venv && /tmp/stan-venv/bin/pip install -r scripts/stan_check/requirements.txt
    /tmp/stan-venv/bin/python scripts/stan_check/logp_check.py \
        --posteriordb posteriordb/posterior_database --refinestat target/debug/refinestat \
        --work /tmp/logp-check --out docs/logp-check-results

Writes OUT.md (the table) and OUT.json (every figure). --fixtures DIR also writes, for posteriors
whose program and data are small, one JSON file each (program, data, points, Stan's values) for
`crates/model/tests/stan_logp.rs`. Resumable: Stan's values are cached under --work.
"""

import argparse
import asyncio
import io
import json
import math
import os
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POINTS = 5
TOL = 1e-8
STAN = "PyStan 3.10.0 / httpstan 4.13.0 (Stan 2.35.0)"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def read_data(pdb, name):
    z = pdb / "data" / "data" / f"{name}.json.zip"
    if not z.exists():
        return None
    with zipfile.ZipFile(z) as f:
        return f.read(f.namelist()[0]).decode()


def check(binary, program, data):
    """None when `refinestat check --data` accepts the program (warnings allowed), else the first
    error."""
    done = subprocess.run([binary, "check", "--json", str(program), "--data", str(data)],
                          capture_output=True, text=True, timeout=600)
    try:
        out = json.loads(done.stdout)
    except json.JSONDecodeError:
        return (done.stderr.strip().splitlines() or ["no output"])[-1]
    errors = [v for v in out.get("violations", []) if v.get("severity", "error") == "error"]
    if errors:
        return f"[{errors[0]['predicate']}] {errors[0]['message']}"
    return None if done.returncode == 0 else done.stderr.strip()[-300:]


def our_dim(binary, program, data, work):
    """refinestat's unconstrained dimension (Stan checks that it is its own: its log_prob throws
    on a vector of another length)."""
    empty = work / "empty.json"
    empty.write_text("[]")
    done = subprocess.run([binary, "logp", str(program), "--data", str(data), "--unconstrained",
                           str(empty)], capture_output=True, text=True, timeout=600)
    if done.returncode == 0:
        return 0
    marker = "but the program has "
    if marker not in done.stderr:
        raise RuntimeError(done.stderr.strip()[-500:])
    return int(done.stderr.split(marker)[1].split()[0])


def ours(binary, program, data, x, work):
    path = work / "x.json"
    path.write_text(json.dumps([float(v) for v in x]))
    done = subprocess.run([binary, "logp", str(program), "--data", str(data), "--unconstrained",
                           str(path), "--propto"], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    out = json.loads(done.stdout)
    return {"lp": out["lp"], "lp_jacobian": out["lp_jacobian"], "grad": out["grad_no_jacobian"],
            "grad_jacobian": out["grad"]}


def stan_module(program_code, optimization, compile_missing):
    import httpstan.models

    name = httpstan.models.calculate_model_name(program_code)
    try:
        return httpstan.models.import_services_extension_module(name)
    except KeyError:
        if not compile_missing:
            return None
    flags = [optimization, "-g0", "-std=c++14", "-Wno-sign-compare"]
    asyncio.run(httpstan.models.build_services_extension_module(program_code, flags))
    return httpstan.models.import_services_extension_module(name)


def stan_at(module, data, x):
    try:
        lp_j = module.log_prob(data, list(x), True)
        lp = module.log_prob(data, list(x), False)
        g_j = module.log_prob_grad(data, list(x), True)
        g = module.log_prob_grad(data, list(x), False)
    except Exception as e:  # noqa: BLE001 -- Stan's rejection is a value we compare
        return {"error": f"{type(e).__name__}: {e}"[:500]}
    values = [lp_j, lp, *g_j, *g]
    if not all(math.isfinite(v) for v in values):
        return {"error": "non-finite log density or gradient"}
    return {"lp": lp, "lp_jacobian": lp_j, "grad": list(g), "grad_jacobian": list(g_j)}


def rel(a, b):
    return abs(a - b) / max(abs(b), 1.0)


def compare(points):
    """Max relative errors over the points (each a dict with `stan` and `ours`)."""
    out = {"lp": 0.0, "lp_jacobian": 0.0, "dlp": 0.0, "dlp_jacobian": 0.0, "grad": 0.0,
           "grad_jacobian": 0.0}
    first = points[0]
    for p in points:
        s, o = p["stan"], p["ours"]
        for k in ("lp", "lp_jacobian"):
            out[k] = max(out[k], rel(o[k], s[k]))
            d_ours = o[k] - first["ours"][k]
            d_stan = s[k] - first["stan"][k]
            scale = max(abs(s[k]), abs(first["stan"][k]), 1.0)
            out["d" + k] = max(out["d" + k], abs(d_ours - d_stan) / scale)
        for k in ("grad", "grad_jacobian"):
            for a, b in zip(o[k], s[k]):
                out[k] = max(out[k], rel(a, b))
    out["offset"] = first["ours"]["lp"] - first["stan"]["lp"]
    return out


def run_posterior(args, pdb, post, work, ode_tol=None):
    """One row of the table. With ode_tol: the program with its ODE solves at that tolerance
    (see with_ode_tolerance) in both engines."""
    name = post["name"]
    program = pdb / "models" / "stan" / f"{post['model_name']}.stan"
    if ode_tol is not None:
        name = f"{name} (ODE tol {ode_tol:g})"
        tight = work / "programs" / f"{post['model_name']}.ode_tol_{ode_tol:g}.stan"
        tight.parent.mkdir(parents=True, exist_ok=True)
        tight.write_text(with_ode_tolerance(program.read_text(), ode_tol))
        program = tight
    cache = work / "stan" / f"{name}.json"
    text = read_data(pdb, post["data_name"])
    row = {"posterior": name, "model": post["model_name"], "data": post["data_name"]}
    if text is None:
        return {**row, "status": "no data", "reason": "data file absent from the checkout"}
    data_path = work / "data" / f"{post['data_name']}.json"
    data_path.parent.mkdir(parents=True, exist_ok=True)
    if not data_path.exists():
        data_path.write_text(text)
    row["data_bytes"] = len(text)
    refused = check(args.refinestat, program, data_path)
    if refused:
        return {**row, "status": "refused", "reason": refused}
    try:
        dim = our_dim(args.refinestat, program, data_path, work)
    except RuntimeError as e:
        return {**row, "status": "fail", "reason": f"refinestat cannot build the model: {e}"}
    row["dim"] = dim
    if cache.exists():
        stan_points = json.loads(cache.read_text())
    else:
        module = stan_module(program.read_text(), args.optimization, not args.no_compile)
        if module is None:
            return {**row, "status": "not compiled", "reason": "Stan model not compiled yet"}
        data = json.loads(text)
        rng = __import__("numpy").random.default_rng([args.seed, zlib.crc32(name.encode())])
        stan_points, rejected = [], []
        for _ in range(args.tries):
            x = [float(v) for v in rng.uniform(-2.0, 2.0, size=dim)]
            s = stan_at(module, data, x)
            if "error" in s and "number of parameters does not match" in s["error"]:
                return {**row, "status": "fail",
                        "reason": f"unconstrained dimension {dim} is not Stan's ({s['error']})"}
            if "error" in s:
                rejected.append({"x": x, "stan": s})
                continue
            stan_points.append({"x": x, "stan": s})
            if len(stan_points) == POINTS:
                break
        stan_points = {"points": stan_points, "rejected": rejected[:POINTS]}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(stan_points))
    points = stan_points["points"]
    row["stan_rejected"] = len(stan_points["rejected"])
    if not points:
        return {**row, "status": "fail", "reason": "Stan rejects every point drawn"}
    # Where Stan rejects, we must too.
    accepted_by_us = []
    for p in stan_points["rejected"]:
        o = ours(args.refinestat, program, data_path, p["x"], work)
        if "error" not in o:
            accepted_by_us.append(p)
    for p in points:
        p["ours"] = ours(args.refinestat, program, data_path, p["x"], work)
    errors = [p["ours"]["error"] for p in points if "error" in p["ours"]]
    if errors:
        return {**row, "status": "fail", "points": len(points),
                "reason": f"refinestat fails where Stan evaluates: {errors[0]}", "_points": points}
    row.update(compare(points))
    row["points"] = len(points)
    row["_points"] = points
    bad = [k for k in ("dlp", "dlp_jacobian", "grad", "grad_jacobian") if row[k] > TOL]
    if accepted_by_us:
        bad.append("evaluates where Stan rejects "
                   f"({accepted_by_us[0]['stan']['error'][:200]})")
    row["status"] = "fail" if bad else "pass"
    if bad:
        row["reason"] = "; ".join(bad)
    return row


OLD_ODE = ("integrate_ode_rk45", "integrate_ode_bdf", "integrate_ode_adams")
NEW_ODE = ("ode_rk45", "ode_bdf", "ode_adams", "ode_ckrk")


def split_call(text, open_paren):
    """The top-level arguments of the call whose '(' is at open_paren, and the index of its ')'."""
    depth, args, start = 0, [], open_paren + 1
    for i in range(open_paren, len(text)):
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(text[start:i])
                return args, i
        elif c == "," and depth == 1:
            args.append(text[start:i])
            start = i + 1
    raise ValueError("unbalanced call")


def with_ode_tolerance(program, tol):
    """The program with every ODE solve at relative and absolute tolerance `tol` (1e8 steps):
    `integrate_ode_*` get (or replace) their three tolerance arguments, `ode_*` become `ode_*_tol`.
    None when the program solves no ODE."""
    import re

    pattern = re.compile(r"\b(" + "|".join(OLD_ODE + NEW_ODE) + r")(_tol)?\s*\(")
    out, pos, found = [], 0, False
    for m in pattern.finditer(program):
        if m.start() < pos:
            continue
        found = True
        args, close = split_call(program, m.end() - 1)
        tols = [f" {tol:g}", f" {tol:g}", " 100000000"]
        if m.group(1) in OLD_ODE:
            call = m.group(1) + "(" + ",".join(args[:7] + tols) + ")"
        else:
            rest = args[7:] if m.group(2) else args[4:]
            call = m.group(1) + "_tol(" + ",".join(args[:4] + tols + rest) + ")"
        out.append(program[pos:m.start()] + call)
        pos = close + 1
    return "".join(out) + program[pos:] if found else None


def fixture(pdb, post, row):
    program = (pdb / "models" / "stan" / f"{post['model_name']}.stan").read_text()
    return {
        "posterior": post["name"],
        "made_by": "scripts/stan_check/logp_check.py --fixtures",
        "stan": STAN + ", log_prob<propto=true> / log_prob_grad<propto=true>",
        "program": program,
        "data": json.loads(read_data(pdb, post["data_name"])),
        "points": [p["x"] for p in row["_points"]],
        "lp": [p["stan"]["lp"] for p in row["_points"]],
        "lp_jacobian": [p["stan"]["lp_jacobian"] for p in row["_points"]],
        "grad": [p["stan"]["grad"] for p in row["_points"]],
        "grad_jacobian": [p["stan"]["grad_jacobian"] for p in row["_points"]],
    }


def sci(x):
    return "-" if x is None else f"{x:.1e}"


def markdown(rows, args):
    base = [r for r in rows if "(ODE tol" not in r["posterior"]]
    compared = [r for r in base if r["status"] in ("pass", "fail")]
    passed = [r for r in base if r["status"] == "pass"]
    refused = [r for r in base if r["status"] == "refused"]
    pending = [r for r in base if r["status"] == "not compiled"]
    lines = [
        "# `refinestat logp` against Stan on posteriordb",
        "",
        f"Generated by `scripts/stan_check/logp_check.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}), "
        f"{STAN}, {POINTS} points per posterior uniform on (-2, 2) on the unconstrained scale "
        f"(seed {args.seed}). Relative error |ours - Stan| / max(|Stan|, 1), max over points "
        "(and gradient components); lp / dlp: the log density (Stan's propto convention) as is / "
        "as differences from the first point; _j: with the Jacobian. Pass: dlp, dlp_j, grad and "
        f"grad_j all <= {TOL:g}.",
        "",
        f"**{len(base)} posteriors; {len(base) - len(refused) - sum(r['status'] == 'no data' for r in base)} "
        f"accepted by `check --data`; {len(compared)} compared; {len(passed)} pass"
        + (f"; {len(pending)} not compared (Stan model not compiled)" if pending else "") + ".** "
        "Rows marked (ODE tol T) rerun a program that solves an ODE with every solve at relative "
        "and absolute tolerance T in both engines; they are not counted.",
        "",
        "| posterior | dim | lp | dlp | dlp_j | grad | grad_j | offset | result |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r["status"] in ("pass", "fail") and "grad" in r:
            off = r["offset"] if abs(r["offset"]) > TOL * max(1.0, abs(r["offset"])) else 0.0
            lines.append(
                f"| {r['posterior']} | {r['dim']} | {sci(r['lp'])} | {sci(r['dlp'])} | "
                f"{sci(r['dlp_jacobian'])} | {sci(r['grad'])} | {sci(r['grad_jacobian'])} | "
                f"{off:.6g} | {'pass' if r['status'] == 'pass' else 'FAIL: ' + r['reason']} |")
        elif r["status"] != "refused":
            lines.append(f"| {r['posterior']} | {r.get('dim', '-')} | | | | | | | "
                         f"{r['status']}: {r.get('reason', '')} |")
    lines += ["", "Refused by `refinestat check --data` (not compared):", ""]
    lines += [f"- {r['posterior']}: {r['reason']}" for r in refused]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posteriordb", required=True, type=Path,
                    help="the posterior_database directory of a posteriordb checkout")
    ap.add_argument("--refinestat", required=True)
    ap.add_argument("--work", required=True, type=Path, help="cache of data files and Stan values")
    ap.add_argument("--out", type=Path, help="write OUT.md and OUT.json")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tries", type=int, default=50, help="draws per posterior at most")
    ap.add_argument("--optimization", default="-O0")
    ap.add_argument("--no-compile", action="store_true",
                    help="skip posteriors whose Stan model is not compiled yet")
    ap.add_argument("--only", nargs="*", help="posterior names")
    ap.add_argument("--ode-tol", type=float, default=1e-10,
                    help="also compare each program that solves an ODE with its solves at this "
                    "tolerance (0: no)")
    ap.add_argument("--fixtures", type=Path, help="write test fixtures here")
    ap.add_argument("--fixture-max-bytes", type=int, default=30000)
    ap.add_argument("--fixture-count", type=int, default=20)
    ap.add_argument("--fixture-names", nargs="*", help="only these posteriors become fixtures")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    posts = [json.loads(p.read_text()) for p in sorted((args.posteriordb / "posteriors").glob("*.json"))]
    if args.only:
        posts = [p for p in posts if p["name"] in args.only]
    rows, fixtures, fixture_models = [], 0, set()
    for post in posts:
        start = time.time()
        row = run_posterior(args, args.posteriordb, post, args.work)
        log(f"{post['name']}: {row['status']} {row.get('reason', '')} ({time.time() - start:.0f} s)")
        # Fixtures: posteriors that pass with the log density equal as is (no constant offset),
        # one per program, while they fit --fixture-max-bytes.
        if (args.fixtures and row["status"] == "pass" and fixtures < args.fixture_count
                and max(row["lp"], row["lp_jacobian"]) <= TOL and post["model_name"] not in fixture_models
                and (not args.fixture_names or post["name"] in args.fixture_names)):
            f = fixture(args.posteriordb, post, row)
            text = json.dumps(f, indent=1)
            if len(text) <= args.fixture_max_bytes:
                args.fixtures.mkdir(parents=True, exist_ok=True)
                (args.fixtures / f"{post['name']}.json").write_text(text + "\n")
                fixtures += 1
                fixture_models.add(post["model_name"])
        row.pop("_points", None)
        rows.append(row)
        program = (args.posteriordb / "models" / "stan" / f"{post['model_name']}.stan").read_text()
        if args.ode_tol and row["status"] != "refused" and with_ode_tolerance(program, 1.0):
            row = run_posterior(args, args.posteriordb, post, args.work, args.ode_tol)
            log(f"{row['posterior']}: {row['status']} {row.get('reason', '')}")
            row.pop("_points", None)
            rows.append(row)
    md = markdown(rows, args)
    if args.out:
        args.out.with_suffix(".md").write_text(md)
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print(md)


if __name__ == "__main__":
    main()
