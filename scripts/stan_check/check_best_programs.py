"""Fits every best program `refinestat synth` returns in real Stan (PyStan 3 / httpstan) and
reports the PSIS-LOO that Stan's draws give, computed by `refinestat diagnose --program --data`.

For each dataset and seed: run `refinestat synth` (default settings, builtin proposal model),
dedupe the best programs by (dataset, text), compile each with `stan.build`, sample 4 chains x
1000 warmup x 1000 draws (fixed seed), write the draws as CmdStan-layout CSVs (one per chain:
sampler columns then parameter columns, CmdStan names such as `theta.1`), and diagnose them with
our reader: R-hat, divergences, and elpd_loo from our pointwise log-likelihood at Stan's draws.
A program Stan refuses is a finding: its error is recorded. Resumable: synth runs and Stan fits
whose outputs exist are reused.

    python scripts/stan_check/check_best_programs.py --work /tmp/stan-check

Writes docs/stan-check-results.md and docs/stan-check-results.json (see --out).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ["eight_schools", "dugongs", "glm", "surgical", "gp"]
CHAINS, WARMUP, DRAWS = 4, 1000, 1000


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_synth(binary, dataset, seed, out_dir):
    """The best program and our own diagnostics of it (synth's fit); reuses a finished run."""
    program = out_dir / "best_program.stan"
    diagnostics = out_dir / "best_program_diagnostics.json"
    if not (program.exists() and diagnostics.exists()):
        out_dir.mkdir(parents=True, exist_ok=True)
        cmd = [str(binary), "synth", "--dataset", dataset, "--seed", str(seed),
               "--output-dir", str(out_dir)]
        log("run " + " ".join(cmd))
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0 or not program.exists():
            return None, None, done.stderr[-2000:]
    return program.read_text(), json.loads(diagnostics.read_text()), None


def write_cmdstan_csvs(fit, out_dir, program_hash):
    """One CmdStan-layout CSV per chain (post-warmup draws only, full float precision)."""
    names = list(fit.sample_and_sampler_param_names) + list(fit.constrained_param_names)
    draws = fit._draws  # (columns, draws, chains): PyStan's own array, no public accessor
    assert draws.shape[0] == len(names)
    paths = []
    for chain in range(fit.num_chains):
        path = out_dir / f"chain-{chain + 1}.csv"
        with open(path, "w") as f:
            f.write(f"# model = {program_hash}\n# method = sample (Default)\n")
            f.write(f"#   num_samples = {fit.num_samples}\n#   num_warmup = {fit.num_warmup}\n")
            f.write("#   save_warmup = 0\n#   thin = 1\n")
            f.write(f"# chain = {chain + 1}\n# written by {Path(__file__).name} from PyStan\n")
            f.write(",".join(names) + "\n")
            block = draws[:, :, chain]
            for d in range(block.shape[1]):
                f.write(",".join(repr(float(x)) for x in block[:, d]) + "\n")
        paths.append(path)
    return paths


def compile_with(optimization):
    """Makes httpstan compile models with `optimization` (e.g. -O1) instead of its -O3.

    httpstan (running inside this process, started by PyStan) hard-codes `-O3 -std=c++14
    -Wno-sign-compare`; on a shared 2-core machine -O3 costs 2-4 minutes per model, most of the
    run. The optimization level changes compile time and speed, not what Stan computes (no
    -ffast-math). Models already in httpstan's cache are reused whatever level built them.
    """
    import httpstan.models

    build = httpstan.models.build_services_extension_module

    async def build_with_level(program_code, extra_compile_args=None):
        if extra_compile_args is None:
            extra_compile_args = [optimization, "-std=c++14", "-Wno-sign-compare"]
        return await build(program_code, extra_compile_args)

    httpstan.models.build_services_extension_module = build_with_level


def stanc(program):
    """Stan's compiler on the program alone: (accepted, its message). The message is stanc's
    error (PyStan prints it and raises only `ValueError("Semantic error")`) or its pedantic
    warnings."""
    import httpstan.compile

    try:
        _, warnings = httpstan.compile.compile(program, "stan_check_model")
        return True, warnings.strip()
    except ValueError as e:
        return False, str(e).strip()


def fit_in_stan(program, data, fit_dir, seed, program_hash):
    """Compiles and samples; returns a result dict (error text when Stan refuses)."""
    import stan  # imported here so --help works without PyStan

    result_file = fit_dir / "stan_fit.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    fit_dir.mkdir(parents=True, exist_ok=True)
    result = {"compiled": False, "sampled": False}
    start = time.time()
    try:
        model = stan.build(program, data=data, random_seed=seed)
        result["compiled"] = True
        result["build_s"] = round(time.time() - start, 1)
        start = time.time()
        fit = model.sample(num_chains=CHAINS, num_warmup=WARMUP, num_samples=DRAWS)
        result["sample_s"] = round(time.time() - start, 1)
        result["sampled"] = True
        result["stan_divergences"] = int(fit["divergent__"].sum())
        result["stan_max_treedepth_hits"] = int((fit["treedepth__"] >= 10).sum())
        result["csv"] = [str(p) for p in write_cmdstan_csvs(fit, fit_dir, program_hash)]
        result["columns"] = list(fit.constrained_param_names)
    except Exception as e:  # noqa: BLE001 -- Stan's refusal is the finding we record
        stage = "sample" if result["compiled"] else "build"
        result["error_stage"] = stage
        result["error"] = f"{type(e).__name__}: {e}"[-4000:]
        traceback.print_exc()
    result_file.write_text(json.dumps(result, indent=1) + "\n")
    return result


def diagnose(binary, csvs, program_path, data_path, out_dir):
    cmd = [str(binary), "diagnose", *csvs, "--program", str(program_path), "--data",
           str(data_path), "--json", "--output-dir", str(out_dir)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-2000:]}
    summary = json.loads(done.stdout)
    rhats = [p.get("rhat") for p in summary["parameters"].values()]
    rhats = [r for r in rhats if r is not None]
    loo = summary.get("loo") or {}
    ks = [k for k in loo.get("pareto_k", []) if k is not None]
    return {
        "elpd_loo": loo.get("elpd_loo"),
        "elpd_loo_se": loo.get("se"),
        "max_pareto_k": max(ks) if ks else None,
        "max_rhat": max(rhats) if rhats else None,
        "divergences": summary.get("divergences"),
        "score": summary["reliability"]["score"] if "score" in summary["reliability"]
        else summary["reliability"].get("refinestat", {}).get("score"),
    }


def sample_ours(binary, program_path, data_path, out_dir, seed):
    """Our own NUTS at the same settings with another seed: the run-to-run spread of elpd_loo
    that a Stan-versus-synth difference should be judged against."""
    summary_file = out_dir / "summary.json"
    if not summary_file.exists():
        cmd = [str(binary), "sample", str(program_path), "--data", str(data_path), "--chains",
               str(CHAINS), "--warmup", str(WARMUP), "--draws", str(DRAWS), "--seed", str(seed),
               "--output-dir", str(out_dir)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            return {"error": done.stderr.strip()[-2000:]}
    summary = json.loads(summary_file.read_text())
    return {"seed": seed, "elpd_loo": (summary.get("loo") or {}).get("elpd_loo"),
            "divergences": summary.get("divergences")}


# Functions our language accepts under names that current Stan no longer has (the deprecated
# `cov_exp_quad` is gone from Stan 2.35), with the name Stan uses now. A program Stan rejects only for these
# is refitted with the new name, to tell a naming gap from a model Stan cannot run.
STAN_RENAMED = {"cov_exp_quad(": "gp_exp_quad_cov("}


def renamed_for_stan(program):
    for old, new in STAN_RENAMED.items():
        program = program.replace(old, new)
    return program


def fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(results, args):
    lines = [
        "# Best programs of `refinestat synth` in real Stan",
        "",
        "Generated by `scripts/stan_check/check_best_programs.py` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}): every best program of "
        f"`refinestat synth --dataset D --seed S` (default settings, builtin proposal model) for "
        f"seeds {args.seeds}, deduplicated by text per dataset, compiled with PyStan 3.10.0 "
        f"(httpstan 4.13.0, Stan 2.35.0; C++ {args.optimization}) and sampled with {CHAINS} chains x {WARMUP} warmup x "
        f"{DRAWS} draws (random_seed {args.stan_seed}). R-hat, divergences and PSIS-LOO of Stan's "
        "draws come from `refinestat diagnose CSV... --program P --data D` (our pointwise "
        "log-likelihood at Stan's draws, ArviZ-exact PSIS-LOO); the synth column is the "
        "elpd_loo of synth's own fit (our NUTS) in best_program_diagnostics.json.",
        "",
        "The last column is a fresh fit of the same program by our own `refinestat sample` "
        f"(same settings, seed {args.ours_seed}): the run-to-run spread of one sampler, to judge "
        "the Stan-versus-synth difference against. The difference is Stan minus the mean of the "
        "synth values.",
        "",
        "Divergences and the reliability score (of 7) are given for Stan's draws and for synth's "
        "fit (per seed); R-hat and Pareto k are of Stan's draws.",
        "",
        "| dataset | seeds | program | Stan compiles | divergences Stan / synth | max R-hat "
        "| max Pareto k | score Stan / synth | elpd_loo (Stan draws) | elpd_loo (synth, per seed) "
        "| difference | elpd_loo (ours, another seed) |",
        "|---|---|---|---|---|---:|---:|---|---:|---|---:|---:|",
    ]
    for r in results:
        stan = r["stan"]
        diag = r.get("diagnose") or {}
        compiled = "yes" if stan.get("compiled") else "**no**"
        if not stan.get("compiled") and (r.get("renamed") or {}).get("stan", {}).get("compiled"):
            # The numbers of the refit under Stan's current function names (footnote).
            stan, diag = r["renamed"]["stan"], r["renamed"].get("diagnose") or {}
            compiled = "**no**; yes renamed [^renamed]"
        ours = [s["elpd_loo"] for s in r["synth"]]
        elpd = diag.get("elpd_loo")
        diff = None if elpd is None or not ours else elpd - sum(ours) / len(ours)
        lines.append(
            f"| {r['dataset']} | {','.join(str(s['seed']) for s in r['synth'])} | "
            f"`{r['hash']}` | {compiled} | {stan.get('stan_divergences', '-')} / "
            f"{','.join(str(s['divergences']) for s in r['synth'])} | "
            f"{fmt(diag.get('max_rhat'), 3)} | {fmt(diag.get('max_pareto_k'))} | "
            f"{diag.get('score', '-')} / {','.join(str(s['score']) for s in r['synth'])} | "
            f"{fmt(elpd)} | "
            f"{', '.join(fmt(x) for x in ours)} | {fmt(diff)} | "
            f"{fmt((r.get('ours') or {}).get('elpd_loo'))} |"
        )
    if any(r.get("renamed") for r in results):
        lines += ["", f"[^renamed]: Stan rejects the program as written; the row's numbers are of "
                  f"the same program with {', '.join(f'`{a[:-1]}` -> `{b[:-1]}`' for a, b in STAN_RENAMED.items())} "
                  "(the function's current Stan name), compiled and sampled as the others."]
    errors = []
    for r in results:
        for what, part in [("Stan", r["stan"]), ("diagnose", r.get("diagnose")),
                           ("our sample", r.get("ours"))]:
            if (part or {}).get("error"):
                errors.append((r, what, part["error"]))
    if errors:
        lines += ["", "## Errors", ""]
        for r, what, text in errors:
            lines += [f"`{r['dataset']}` `{r['hash']}` ({what}):", "", "```", text.strip(), "```",
                      ""]
    warned = [r for r in results if r.get("stanc_ok") and r.get("stanc_message")]
    if warned:
        lines += ["", "## stanc warnings (`--warn-pedantic`) of accepted programs", ""]
        for r in warned:
            lines += [f"`{r['dataset']}` `{r['hash']}`:", "", "```", r["stanc_message"], "```", ""]
    lines += ["", "## Programs", ""]
    for r in results:
        lines += [f"`{r['dataset']}` `{r['hash']}` (seeds "
                  f"{', '.join(str(s['seed']) for s in r['synth'])}):", "", "```stan",
                  r["program"].strip(), "```", ""]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=str(ROOT / "target/release/refinestat"))
    parser.add_argument("--work", default="/tmp/stan-check", help="synth runs and Stan CSVs")
    parser.add_argument("--seeds", default="1-5", help="A-B or comma list")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--stan-seed", type=int, default=1)
    parser.add_argument("--ours-seed", type=int, default=1000,
                        help="seed of the reference fit by our own sampler")
    parser.add_argument("--optimization", default="-O1",
                        help="C++ optimization level httpstan compiles models with (its own: -O3)")
    parser.add_argument("--out", default=str(ROOT / "docs/stan-check-results"),
                        help="writes OUT.md and OUT.json")
    args = parser.parse_args()
    if "-" in args.seeds:
        a, b = args.seeds.split("-")
        seeds = list(range(int(a), int(b) + 1))
    else:
        seeds = [int(s) for s in args.seeds.split(",")]
    args.bin, args.out = str(Path(args.bin).resolve()), str(Path(args.out).resolve())
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    # httpstan's setuptools build writes a build/ folder into the working directory.
    os.chdir(work)
    compile_with(args.optimization)

    unique = {}  # (dataset, hash) -> record
    for dataset in args.datasets.split(","):
        for seed in seeds:
            program, diag, err = run_synth(args.bin, dataset, seed, work / "synth" / f"{dataset}-seed{seed}")
            if program is None:
                log(f"synth {dataset} seed {seed} failed: {err}")
                continue
            h = hashlib.sha256(program.encode()).hexdigest()[:12]
            rec = unique.setdefault((dataset, h), {"dataset": dataset, "hash": h,
                                                   "program": program, "synth": []})
            rec["synth"].append({"seed": seed, "elpd_loo": (diag.get("loo") or {}).get("elpd_loo"),
                                 "score": diag.get("reliability", {}).get("score"),
                                 "divergences": diag.get("divergences")})
    log(f"{len(unique)} distinct best programs")

    results = []
    for (dataset, h), rec in unique.items():
        fit_dir = work / "stan" / f"{dataset}-{h}"
        fit_dir.mkdir(parents=True, exist_ok=True)
        program_path = fit_dir / "program.stan"
        program_path.write_text(rec["program"])
        data_path = ROOT / "datasets" / f"{dataset}.json"
        data = json.loads(data_path.read_text())
        log(f"Stan: {dataset} {h} (seeds {[s['seed'] for s in rec['synth']]})")
        rec["stanc_ok"], rec["stanc_message"] = stanc(rec["program"])
        rec["stan"] = fit_in_stan(rec["program"], data, fit_dir, args.stan_seed, h)
        if not rec["stan"].get("compiled") and not rec["stanc_ok"]:
            rec["stan"]["error"] = rec["stanc_message"]
        if rec["stan"].get("sampled"):
            rec["diagnose"] = diagnose(args.bin, rec["stan"]["csv"], program_path, data_path,
                                       fit_dir / "diagnose")
        rec["ours"] = sample_ours(args.bin, program_path, data_path, fit_dir / "ours",
                                  args.ours_seed)
        renamed = renamed_for_stan(rec["program"])
        if not rec["stan"].get("compiled") and renamed != rec["program"]:
            rdir = work / "stan" / f"{dataset}-{h}-renamed"
            rdir.mkdir(parents=True, exist_ok=True)
            (rdir / "program.stan").write_text(renamed)
            log(f"  Stan rejected it; refitting with {STAN_RENAMED}")
            rec["renamed"] = {"stan": fit_in_stan(renamed, data, rdir, args.stan_seed, h)}
            if rec["renamed"]["stan"].get("sampled"):
                rec["renamed"]["diagnose"] = diagnose(args.bin, rec["renamed"]["stan"]["csv"],
                                                      rdir / "program.stan", data_path,
                                                      rdir / "diagnose")
        log(f"  -> {json.dumps({k: v for k, v in rec['stan'].items() if k not in ('csv', 'columns')})}"
            f" {json.dumps(rec.get('diagnose'))}")
        results.append(rec)
        # Write as we go so a partial run leaves a readable table.
        Path(args.out + ".json").write_text(json.dumps(results, indent=1) + "\n")
        Path(args.out + ".md").write_text(markdown(results, args))
    log("done")


if __name__ == "__main__":
    sys.exit(main())
