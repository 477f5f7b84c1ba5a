"""Side-by-side benchmark driver: refinestat versus PyStan, PyMC, nutpie and NumPyro.

One invocation runs everything (so every number comes from the same machine state): an untimed
warm-up round (fills PyStan's and PyTensor's on-disk caches and the page cache), then --reps
timed rounds. In each round every model is fitted once by every contender, in an order rotated
from round to round so slow drifts in machine load do not favour one contender. Every contender
runs 4 chains x 1000 warmup x 1000 draws, with seed = the round number.

Per run it records
- end to end: driver's spawn of a fresh process -> posterior summary incl. PSIS-LOO done
  (peers: the child's "done" mark on the shared monotonic clock; refinestat: process exit of
  `refinestat sample ... --output-dir D` on tmpfs, which writes CSVs + summary.json with LOO);
- sampling: peers time their own sampling call in-process; with --second-fit (default on) they
  fit a second time in the same process after the end-to-end mark and that warm call is the
  reported sampling time. refinestat has no in-process timer, so its sampling time is estimated
  as (time from spawn until chain-1.csv appears, which happens right after sampling) minus the
  median time of `refinestat check MODEL --data DATA` (process start + parse + check + data load);
- min bulk ESS over parameters and transformed parameters (ArviZ for peers, summary.json for
  refinestat) and ESS/s = that / sampling time.

Output: DIR/results.json (every raw run, environment, load averages) and DIR/results.md (tables of
medians and refinestat/peer ratios).

Usage (repository root, after `cargo build --release`):
    .venv-peers/bin/python scripts/bench_peers/bench.py --reps 3 --out /tmp/bench_peers_out
"""

import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from common import CHAINS, DRAWS, MODELS, WARMUP  # noqa: E402

STAN_EXAMPLES = {
    "eight_schools": REPO / "examples" / "eight_schools_noncentered.stan",
    "logistic": REPO / "examples" / "logistic.stan",
    "logistic_100k": REPO / "examples" / "logistic.stan",
}
PEER_SCRIPTS = {
    "pystan_cold": "run_pystan.py",
    "pystan_warm": "run_pystan.py",
    "pymc": "run_pymc.py",
    "nutpie": "run_nutpie.py",
    "numpyro": "run_numpyro.py",
}
CONTENDERS = ["refinestat", "pystan_cold", "pystan_warm", "pymc", "nutpie", "numpyro"]
PACKAGES = ["pystan", "httpstan", "pymc", "pytensor", "nutpie", "numpyro", "jax", "jaxlib",
            "numba", "arviz", "numpy", "scipy"]
WARMUP_SEED = 999  # distinct from every round's seed: httpstan answers a repeated seed from cache


def loadavg() -> list[float]:
    return [float(x) for x in pathlib.Path("/proc/loadavg").read_text().split()[:3]]


def environment(refinestat: pathlib.Path) -> dict:
    cpuinfo = {}
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        cpuinfo.setdefault(key.strip(), value.strip())
    cpu = (f"{cpuinfo.get('model name', 'unknown')} (family {cpuinfo.get('cpu family')}, "
           f"model {cpuinfo.get('model')}, {cpuinfo.get('cpu MHz')} MHz, "
           f"{'hypervisor' if 'hypervisor' in cpuinfo.get('flags', '') else 'bare metal'})")
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None

    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError as e:
            return f"error: {e}"

    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "memory": next((line for line in pathlib.Path("/proc/meminfo").read_text().splitlines()
                        if line.startswith("MemTotal")), None),
        "python": platform.python_version(),
        "gxx": out(["g++", "--version"]).splitlines()[0] if shutil.which("g++") else None,
        "refinestat_version": out([str(refinestat), "--version"]),
        "git_commit": out(["git", "-C", str(REPO), "rev-parse", "HEAD"]),
        "git_describe": out(["git", "-C", str(REPO), "log", "-1", "--format=%h %s"]),
        "versions": versions,
        "loadavg_start": loadavg(),
    }


def run_peer(contender: str, model: str, seed: int, env_extra: dict, second_fit: bool, log) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_peers_res_") as tmp:
        result = pathlib.Path(tmp) / "result.json"
        cmd = [sys.executable, str(HERE / PEER_SCRIPTS[contender]), "--model", model,
               "--seed", str(seed), "--result", str(result)]
        if second_fit:
            cmd.append("--second-fit")
        env = {**os.environ, **env_extra}
        load = loadavg()
        spawn = time.monotonic()
        # cwd: a scratch directory, because httpstan's compiler leaves a build/ tree in the cwd.
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        exited = time.monotonic()
        if proc.returncode != 0 or not result.exists():
            log(f"  FAILED {contender} {model}: rc={proc.returncode}\n{proc.stderr[-3000:]}")
            return {"contender": contender, "model": model, "seed": seed, "ok": False,
                    "stderr_tail": proc.stderr[-3000:]}
        rec = json.loads(result.read_text())
    m = rec.pop("marks")
    rec.update(
        contender=contender,
        ok=True,
        loadavg=load,
        process_wall=exited - spawn,
        e2e=m["done"] - spawn,
        phase_startup_import=m["imported"] - spawn,
        phase_build=m["built"] - m["imported"],
        phase_first_sampling_call=m["sampled"] - m["built"],
        phase_summary_loo=m["done"] - m["sampled"],
    )
    if "second_sampled" in m:
        rec["warm_sampling_call"] = m["second_sampled"] - m["second_start"]
        rec["warm_min_ess_bulk"] = rec.pop("second_min_ess_bulk")
    return rec


def run_refinestat(binary: pathlib.Path, model: str, seed: int, log) -> dict:
    data = MODELS[model][0]
    out_dir = pathlib.Path(tempfile.mkdtemp(prefix="bench_peers_", dir="/dev/shm"))
    # Files refinestat creates in order: chain-1.csv right after the sampler returned and the
    # constrained outputs and pointwise log-likelihood were computed, the last chain's CSV, then
    # summary.json after the diagnostics and PSIS-LOO.
    watched = {"first_csv": out_dir / "chain-1.csv", "last_csv": out_dir / f"chain-{CHAINS}.csv",
               "summary_json": out_dir / "summary.json"}
    cmd = [str(binary), "sample", str(STAN_EXAMPLES[model]), "--data", str(data),
           "--chains", str(CHAINS), "--warmup", str(WARMUP), "--draws", str(DRAWS),
           "--seed", str(seed), "--output-dir", str(out_dir)]
    load = loadavg()
    csv_seen = {}

    def watch():
        # A 1 ms poll on tmpfs costs next to nothing.
        pending = dict(watched)
        while pending and not stop.is_set():
            for key, path in list(pending.items()):
                if path.exists():
                    csv_seen[key] = time.monotonic()
                    del pending[key]
            time.sleep(0.001)

    stop = threading.Event()
    watcher = threading.Thread(target=watch, daemon=True)
    spawn = time.monotonic()
    watcher.start()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    exited = time.monotonic()
    stop.set()
    watcher.join()
    try:
        if proc.returncode != 0:
            log(f"  FAILED refinestat {model}: rc={proc.returncode}\n{proc.stderr[-3000:]}")
            return {"contender": "refinestat", "model": model, "seed": seed, "ok": False,
                    "stderr_tail": proc.stderr[-3000:]}
        summary = json.loads((out_dir / "summary.json").read_text())
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    rec = {"contender": "refinestat", "peer": "refinestat", "model": model, "seed": seed, "ok": True,
           "loadavg": load, "process_wall": exited - spawn, "e2e": exited - spawn,
           "to_first_csv": csv_seen.get("first_csv", exited) - spawn,
           "to_last_csv": csv_seen.get("last_csv", exited) - spawn,
           "to_summary_json": csv_seen.get("summary_json", exited) - spawn}
    rec.update(refinestat_summary_fields(summary, MODELS[model][1]))
    return rec


def refinestat_summary_fields(summary: dict, ess_vars: list[str]) -> dict:
    """Min bulk ESS over the reported parameters and the LOO numbers, from summary.json."""
    # summary.json: {"parameters": {"mu": {..., "ess_bulk": x}, "theta[1]": {...}}, "loo": {...}}
    ess = [p["ess_bulk"] for name, p in summary["parameters"].items()
           if name.split("[")[0] in ess_vars and p.get("ess_bulk") is not None]
    loo = summary.get("loo") or {}
    return {"min_ess_bulk": min(ess) if ess else None, "n_ess_columns": len(ess),
            "elpd_loo": loo.get("elpd_loo"), "p_loo": loo.get("p_loo"),
            "max_pareto_k": max(loo["pareto_k"]) if loo.get("pareto_k") else None,
            "divergences": summary.get("divergences")}


def time_check(binary: pathlib.Path, model: str) -> float:
    """Wall time of `refinestat check MODEL --data DATA`: process start, parse, check, data load."""
    spawn = time.monotonic()
    subprocess.run([str(binary), "check", str(STAN_EXAMPLES[model]), "--data", str(MODELS[model][0])],
                   capture_output=True, check=False)
    return time.monotonic() - spawn


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=2):
    if x is None:
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


def aggregate(runs: list[dict], check_times: dict) -> dict:
    """Medians per (contender, model) over the timed rounds."""
    agg = {}
    for model in MODELS:
        for contender in CONTENDERS:
            rs = [r for r in runs if r["model"] == model and r["contender"] == contender and r["ok"]]
            if not rs:
                continue
            a = {"n": len(rs), "e2e": median([r["e2e"] for r in rs]),
                 "process_wall": median([r["process_wall"] for r in rs]),
                 "loadavg_1min": median([r["loadavg"][0] for r in rs]),
                 "elpd_loo": median([r.get("elpd_loo") for r in rs])}
            if contender == "refinestat":
                startup = median(check_times[model])
                a["startup_check"] = startup
                a["to_first_csv"] = median([r["to_first_csv"] for r in rs])
                samp = [r["to_first_csv"] - startup for r in rs]
                ess = [r["min_ess_bulk"] for r in rs]
                a["post_sampling"] = median([r["e2e"] - r["to_first_csv"] for r in rs])
                a["first_to_last_csv"] = median([r["to_last_csv"] - r["to_first_csv"] for r in rs])
                a["last_csv_to_summary"] = median([r["to_summary_json"] - r["to_last_csv"] for r in rs])
                a["summary_to_exit"] = median([r["e2e"] - r["to_summary_json"] for r in rs])
            else:
                for k in ("phase_startup_import", "phase_build", "phase_first_sampling_call",
                          "phase_summary_loo", "pymc_sampling_time", "second_pymc_sampling_time"):
                    if any(k in r for r in rs):
                        a[k] = median([r.get(k) for r in rs])
                warm = all("warm_sampling_call" in r for r in rs)
                samp = [r["warm_sampling_call"] if warm else r["phase_first_sampling_call"] for r in rs]
                ess = [r["warm_min_ess_bulk"] if warm else r["min_ess_bulk"] for r in rs]
                a["sampling_is_warm_second_call"] = warm
            a["sampling"] = median(samp)
            a["min_ess_bulk"] = median(ess)
            a["ess_per_s"] = median([e / s for e, s in zip(ess, samp)])
            agg[f"{contender}/{model}"] = a
    return agg


def markdown(agg: dict, env: dict) -> str:
    lines = ["| contender | model | end-to-end s | e2e ratio refinestat/peer | sampling s | "
             "sampling ratio refinestat/peer | min ESS bulk | ESS/s | ESS/s ratio refinestat/peer |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for model in MODELS:
        ref = agg.get(f"refinestat/{model}")
        for contender in CONTENDERS:
            a = agg.get(f"{contender}/{model}")
            if a is None:
                continue

            def ratio(key):
                if ref is None or contender == "refinestat" or not a.get(key) or ref.get(key) is None:
                    return "—"
                return fmt(ref[key] / a[key], 3)

            if contender == "pystan_cold":
                # Its sampling call runs on the freshly compiled model: the warm row times that.
                lines.append(f"| {contender} | {model} | {fmt(a['e2e'])} | {ratio('e2e')} | "
                             "(as warm) | | | | |")
                continue
            lines.append(
                f"| {contender} | {model} | {fmt(a['e2e'])} | {ratio('e2e')} | {fmt(a['sampling'], 3)} | "
                f"{ratio('sampling')} | {fmt(a['min_ess_bulk'], 0)} | {fmt(a['ess_per_s'], 0)} | "
                f"{ratio('ess_per_s')} |")
    lines += ["", "Phases (medians, s): peers' startup+import / build (compile) / first sampling call / "
              "summary+LOO; refinestat's check (startup) / spawn-to-first-CSV / after-first-CSV.", "",
              "| contender | model | startup+import | build | first sampling call | summary+LOO | "
              "warm sampling call | 1-min load |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for model in MODELS:
        for contender in CONTENDERS:
            a = agg.get(f"{contender}/{model}")
            if a is None:
                continue
            if contender == "refinestat":
                lines.append(f"| refinestat | {model} | {fmt(a['startup_check'], 3)} (check) | — | "
                             f"{fmt(a['to_first_csv'] - a['startup_check'], 3)} (est.) | "
                             f"{fmt(a['post_sampling'], 3)} | — | {fmt(a['loadavg_1min'])} |")
            else:
                lines.append(
                    f"| {contender} | {model} | {fmt(a.get('phase_startup_import'))} | "
                    f"{fmt(a.get('phase_build'))} | {fmt(a.get('phase_first_sampling_call'))} | "
                    f"{fmt(a.get('phase_summary_loo'))} | "
                    f"{fmt(a['sampling']) if a.get('sampling_is_warm_second_call') else '—'} | "
                    f"{fmt(a['loadavg_1min'])} |")
    lines += ["", "refinestat split from its output files (medians, s): spawn -> chain-1.csv "
              "(startup + sampling + constrained outputs and pointwise log-lik) / chain-1.csv -> "
              f"chain-{CHAINS}.csv (CSV writing) / chain-{CHAINS}.csv -> summary.json (last CSV + "
              "diagnostics + PSIS-LOO) / summary.json -> exit (table).", "",
              "| model | check (startup) | spawn -> chain-1.csv | chain-1 -> last CSV | "
              "last CSV -> summary.json | summary.json -> exit | end to end |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for model in MODELS:
        a = agg.get(f"refinestat/{model}")
        if a is not None:
            lines.append(f"| {model} | {fmt(a['startup_check'], 3)} | {fmt(a['to_first_csv'], 3)} | "
                         f"{fmt(a['first_to_last_csv'], 3)} | {fmt(a['last_csv_to_summary'], 3)} | "
                         f"{fmt(a['summary_to_exit'], 3)} | {fmt(a['e2e'], 3)} |")
    lines += ["", f"Load average (1, 5, 15 min) at start {env['loadavg_start']}, "
              f"at end {env.get('loadavg_end')}; {env['nproc']} CPUs ({env['cpu_model']})."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="timed rounds (0: warm-up round only)")
    parser.add_argument("--models", nargs="+", default=["eight_schools", "logistic"],
                        choices=list(MODELS))
    parser.add_argument("--contenders", nargs="+", default=CONTENDERS, choices=CONTENDERS)
    parser.add_argument("--refinestat", type=pathlib.Path, default=REPO / "target" / "release" / "refinestat")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("/tmp/bench_peers_out"))
    parser.add_argument("--no-second-fit", action="store_true")
    parser.add_argument("--no-warmup-round", action="store_true")
    parser.add_argument(
        "--httpstan-cache", type=pathlib.Path,
        help="XDG_CACHE_HOME for PyStan-warm, kept across driver runs so its compiled models can be "
        "primed ahead of time (cached fits in it are deleted at start); default: a fresh temp dir")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = (args.out / "log.txt").open("a")

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    env = environment(args.refinestat)
    log(f"environment: {json.dumps(env)}")
    second_fit = not args.no_second_fit
    xla = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={CHAINS}"}
    # PyStan's warm cache: fresh for this driver run (primed by the warm-up round), or a kept one
    # whose compiled models stay but whose cached fits go, so that no fit from an earlier run can
    # answer a request without sampling.
    if args.httpstan_cache:
        warm_cache = args.httpstan_cache.resolve()
        for fits in warm_cache.glob("httpstan/*/models/*/fits"):
            shutil.rmtree(fits)
    else:
        warm_cache = pathlib.Path(tempfile.mkdtemp(prefix="bench_peers_httpstan_warm_"))

    def one(contender, model, seed):
        if contender == "refinestat":
            return run_refinestat(args.refinestat, model, seed, log)
        if contender == "pystan_cold":
            cold = tempfile.mkdtemp(prefix="bench_peers_httpstan_cold_")
            try:
                # Cold: an empty cache directory, so httpstan compiles the model from scratch;
                # its sampling is timed by the warm contender.
                return run_peer(contender, model, seed, {"XDG_CACHE_HOME": cold}, False, log)
            finally:
                shutil.rmtree(cold, ignore_errors=True)
        if contender == "pystan_warm":
            return run_peer(contender, model, seed, {"XDG_CACHE_HOME": str(warm_cache)}, second_fit, log)
        return run_peer(contender, model, seed, xla if contender == "numpyro" else {}, second_fit, log)

    runs, warmups = [], []
    contenders = [c for c in CONTENDERS if c in args.contenders]
    if not args.no_warmup_round:
        log("warm-up round (untimed; fills caches)")
        for model in args.models:
            for contender in contenders:
                if contender == "pystan_cold":
                    continue
                t = time.monotonic()
                rec = one(contender, model, WARMUP_SEED)
                warmups.append(rec)
                log(f"  warm-up {contender:12s} {model:14s} {time.monotonic() - t:7.2f} s ok={rec['ok']}")

    check_times = {m: [] for m in args.models}
    for rep in range(1, args.reps + 1):
        order = contenders[rep - 1:] + contenders[:rep - 1]
        log(f"round {rep}/{args.reps}: order {order}")
        for model in args.models:
            if "refinestat" in contenders:
                check_times[model].append(time_check(args.refinestat, model))
            for contender in order:
                rec = one(contender, model, rep)
                rec["round"] = rep
                runs.append(rec)
                if rec["ok"]:
                    extra = (f" sampling(warm)={rec['warm_sampling_call']:.3f}" if "warm_sampling_call" in rec
                             else f" to_first_csv={rec['to_first_csv']:.3f}" if contender == "refinestat"
                             else "")
                    log(f"  {contender:12s} {model:14s} e2e={rec['e2e']:7.2f}{extra} "
                        f"minESS={rec['min_ess_bulk']:.0f} load={rec['loadavg'][0]:.2f}")
        (args.out / "results.json").write_text(json.dumps(
            {"environment": env, "warmups": warmups, "runs": runs, "check_times": check_times}, indent=1))

    env["loadavg_end"] = loadavg()
    env["date_utc_end"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    agg = aggregate(runs, check_times)
    (args.out / "results.json").write_text(json.dumps(
        {"environment": env, "warmups": warmups, "runs": runs, "check_times": check_times,
         "medians": agg}, indent=1))
    md = markdown(agg, env)
    (args.out / "results.md").write_text(md)
    print(md)
    if not args.httpstan_cache:
        shutil.rmtree(warm_cache, ignore_errors=True)


if __name__ == "__main__":
    main()
