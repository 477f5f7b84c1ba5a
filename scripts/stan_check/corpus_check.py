#!/usr/bin/env python3
"""Run `refinestat check` over the Stan programs of posteriordb and stan-dev/example-models.

The user fetches the corpora (nothing here downloads anything):

    git clone https://github.com/stan-dev/posteriordb
    git clone https://github.com/stan-dev/example-models
    cargo build --release -p refinestat
    python3 scripts/stan_check/corpus_check.py --refinestat target/release/refinestat \
        --corpus posteriordb=posteriordb/posterior_database/models/stan \
        --corpus example-models=example-models

For each corpus it prints how many programs `check` accepts (no errors; warnings allowed), how
many of those have warnings, and the rejected programs counted by their first error, with the
message normalised (names in backticks become `_`, numbers become N) so that one cause is one row.
`--strict` passes `--strict` to `check` (warnings count as violations). `--json FILE` also
writes every program's verdict. Programs are checked without data. Standard library only.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys


def stan_files(root):
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".stan"):
                out.append(os.path.join(d, f))
    return sorted(out)


def normalise(message):
    m = re.sub(r"`[^`]*`", "`_`", message)
    m = re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "N", m)
    return m


def check(binary, path, strict):
    cmd = [binary, "check", "--json", path]
    if strict:
        cmd.append("--strict")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return {"valid": False, "first": "timeout (60 s)", "warnings": 0}
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError:
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return {"valid": False, "first": f"crash: {err}", "warnings": 0}
    violations = out.get("violations", [])
    errors = [v for v in violations if v.get("severity", "error") == "error"]
    warnings = len(violations) - len(errors)
    first = None
    if errors:
        first = f"[{errors[0]['predicate']}] {errors[0]['message']}"
    return {"valid": not errors, "first": first, "warnings": warnings}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refinestat", required=True, help="path to the refinestat binary")
    ap.add_argument("--corpus", action="append", required=True, help="NAME=DIRECTORY")
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--top", type=int, default=25, help="rows of first errors per corpus")
    ap.add_argument("--json", help="write every verdict to this file")
    args = ap.parse_args()
    verdicts = {}
    for spec in args.corpus:
        name, _, root = spec.partition("=")
        files = stan_files(root)
        if not files:
            sys.exit(f"no .stan files under {root}")
        results = {}
        for f in files:
            results[os.path.relpath(f, root)] = check(args.refinestat, f, args.strict)
        verdicts[name] = results
        accepted = sum(r["valid"] for r in results.values())
        with_warnings = sum(r["valid"] and r["warnings"] > 0 for r in results.values())
        print(f"## {name}: {accepted} of {len(files)} accepted ({with_warnings} of them with warnings)\n")
        causes = collections.Counter(
            normalise(r["first"]) for r in results.values() if not r["valid"]
        )
        if causes:
            print("| programs | first error (normalised) |")
            print("|---:|---|")
            for cause, n in causes.most_common(args.top):
                cell = cause.replace("|", "\\|")
                print(f"| {n} | {cell} |")
            rest = sum(causes.values()) - sum(n for _, n in causes.most_common(args.top))
            if rest:
                print(f"| {rest} | (other causes) |")
            print()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(verdicts, fh, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
