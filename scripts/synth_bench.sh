#!/usr/bin/env bash
# Runs `refinestat synth` on the five shipped datasets for the given seeds and prints one
# markdown row per run (docs/synth-results.md). Usage:
#   scripts/synth_bench.sh OUT_ROOT "1 2 3" [extra synth flags...]
# Needs a release build (cargo build --release -p refinestat) and jq.
set -euo pipefail
out_root=$1
seeds=$2
shift 2
mkdir -p "$out_root"
bin=${REFINESTAT_BIN:-target/release/refinestat}
declare -A expert=([eight_schools]=-30.70 [dugongs]=22.43 [glm]=-112.60 [surgical]=-39.73 [gp]=-26.53)
echo "| dataset | seed | wall s | attempts | fits | valid | stop | best score | strict score | best ELPD-LOO | expert ELPD | tokens sampled | tokens rejected |"
echo "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
for ds in eight_schools dugongs glm gp surgical; do
  for seed in $seeds; do
    dir=$out_root/$ds-seed$seed
    "$bin" synth --dataset "$ds" --seed "$seed" --output-dir "$dir" "$@" >/dev/null 2>"$dir.stderr" || true
    u=$dir/token_usage.json
    if [ -f "$dir/best_program_diagnostics.json" ]; then
      d=$dir/best_program_diagnostics.json
      score=$(jq '.reliability.score' "$d"); strict=$(jq '.reliability.strict.score' "$d")
      elpd=$(printf "%.2f" "$(jq .loo.elpd_loo "$d")")
    else
      score=-; strict=-; elpd=-
    fi
    echo "| $ds | $seed | $(jq '.wall_time_s * 10 | round / 10' "$u") | $(jq .attempts "$u") | $(jq .fits "$u") | $(jq .valid_programs "$u") | $(jq -r .stop "$u") | $score | $strict | $elpd | ${expert[$ds]} | $(jq .tokens.sampled "$u") | $(jq .tokens.rejected "$u") |"
  done
done
