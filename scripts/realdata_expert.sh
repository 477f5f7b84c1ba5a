#!/usr/bin/env bash
# Fits the expert programs of the public real-data benchmark (examples/real/NAME.stan on
# datasets/real/NAME.json) with `refinestat check` + `refinestat sample` (4 chains x 1000 warmup x
# 1000 draws, seed 1) and writes their ELPD-LOO to examples/real/expert_elpd.json, the reference
# scripts/realdata_bench.sh compares synth's best programs with. Usage:
#   scripts/realdata_expert.sh OUT_ROOT
# Needs a release build (cargo build --release -p refinestat) and jq.
set -euo pipefail
out_root=$1
mkdir -p "$out_root"
bin=${REFINESTAT_BIN:-target/release/refinestat}
datasets="cars swiss birthwt insurance quine sleepstudy penicillin lakehuron mammals menarche cbpp trees"
out=examples/real/expert_elpd.json
json="{"
sep=""
for ds in $datasets; do
  "$bin" check "examples/real/$ds.stan" --data "datasets/real/$ds.json" >/dev/null
  "$bin" sample "examples/real/$ds.stan" --data "datasets/real/$ds.json" --seed 1 \
    --output-dir "$out_root/$ds" --json >"$out_root/$ds.json" 2>"$out_root/$ds.stderr"
  row=$(jq -c '{elpd_loo: (.loo.elpd_loo * 1000 | round / 1000), se: (.loo.se * 1000 | round / 1000),
    p_loo: (.loo.p_loo * 1000 | round / 1000), max_pareto_k: (.loo.pareto_k | max * 1000 | round / 1000),
    divergences: .divergences, score: .reliability.score}' "$out_root/$ds.json")
  echo "$ds $row"
  json="$json$sep\"$ds\": $row"
  sep=", "
done
echo "$json}" | jq --sort-keys . >"$out"
