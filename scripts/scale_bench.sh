#!/usr/bin/env bash
# The scale benchmark of BENCHMARKS.md (issue 17): `refinestat sample` of a simulated logistic
# regression (K = 5, 4 chains x 1000 + 1000, default settings) at the sizes given, each timed with
# /usr/bin/time -v (wall, peak resident memory), with the output directory's size on disk and the
# PSIS-LOO estimates from summary.json. Extra arguments after `--` go to every `sample` run.
#
# Usage: scripts/scale_bench.sh [N ...] [-- SAMPLE FLAGS]   (from the repository root, after
#        cargo build --release -p refinestat; data from scripts/make_logistic_large.py)
set -euo pipefail
BIN=${BIN:-target/release/refinestat}
WORK=${WORK:-/tmp/scale_bench}
mkdir -p "$WORK"
sizes=()
while [[ $# -gt 0 && $1 != "--" ]]; do sizes+=("$1"); shift; done
[[ ${1:-} == "--" ]] && shift
extra=("$@")
[[ ${#sizes[@]} -eq 0 ]] && sizes=(1000 10000 100000)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); extra flags: ${extra[*]:-none}"
printf '| N | wall (s) | CPU (s) | CPU share | peak RSS (MB) | disk (MB) | elpd_loo | se | subsampling se | subsampled |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n'
for n in "${sizes[@]}"; do
  data="$WORK/logistic_$n.json"
  [[ -f $data ]] || python3 scripts/make_logistic_large.py "$n" "$data" > /dev/null
  out="$WORK/out_$n"
  rm -rf "$out"
  /usr/bin/time -v "$BIN" sample examples/logistic.stan --data "$data" --output-dir "$out" \
    "${extra[@]}" > "$WORK/stdout_$n.txt" 2> "$WORK/time_$n.txt"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time_$n.txt" \
    | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
  cpu=$(awk -F': ' '/User time|System time/ {t += $2} END {printf "%.1f", t}' "$WORK/time_$n.txt")
  share=$(awk -F': ' '/Percent of CPU/ {print $2}' "$WORK/time_$n.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$WORK/time_$n.txt")
  disk=$(du -sb "$out" | awk '{printf "%.1f", $1 / 1e6}')
  loo=$(python3 - "$out/summary.json" <<'PY'
import json, sys
loo = json.load(open(sys.argv[1]))["loo"]
sub = loo.get("subsample")
f = lambda x: "NA" if x is None else f"{x:.2f}"
print(f(loo["elpd_loo"]), f(loo["se"]), f(sub["elpd_loo_subsampling_se"]) if sub else "-",
      f"{sub['observations']} of {loo['n_obs']}" if sub else "no", sep=" | ")
PY
)
  printf '| %s | %.1f | %s | %s | %s | %s | %s |\n' "$n" "$wall" "$cpu" "$share" "$rss" "$disk" "$loo"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
