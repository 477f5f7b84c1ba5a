#!/usr/bin/env bash
# The public real-data benchmark of issue 11: `refinestat synth --data datasets/real/NAME.json`
# for the given seeds, without --response, and one markdown row per run: which variable(s) the
# best program puts a likelihood on, whether that is the dataset's response, score, ELPD-LOO
# against the expert program's (examples/real/NAME.stan, refinestat's own fit), wall time.
# Usage:
#   scripts/realdata_bench.sh OUT_ROOT "1 2 3" [extra synth flags...]
# REALDATA_DATASETS="a b" runs only those datasets. With REALDATA_DESCRIBE=1 each run also gets `--describe` with the dataset's one-line
# description from datasets/real/describe.json (what a user would say about the data).
# Needs a release build (cargo build --release -p refinestat) and jq.
set -euo pipefail
out_root=$1
seeds=$2
shift 2
mkdir -p "$out_root"
bin=${REFINESTAT_BIN:-target/release/refinestat}
here=$(cd "$(dirname "$0")/.." && pwd)
datasets=${REALDATA_DATASETS:-"cars swiss birthwt insurance quine sleepstudy penicillin lakehuron mammals menarche cbpp trees"}
declare -A response=([cars]=dist [swiss]=Fertility [birthwt]=low [insurance]=Claims [quine]=Days
  [sleepstudy]=Reaction [penicillin]=diameter [lakehuron]=value [mammals]=brain [menarche]=Menarche
  [cbpp]=incidence [trees]=Volume)
# ELPD-LOO of examples/real/NAME.stan from `refinestat sample` (examples/real/README.md).
expert_json=$here/examples/real/expert_elpd.json

# The data variables a program puts a likelihood on: the variable left of `~`, or the first
# argument of a `_lpdf`/`_lpmf` call in `target +=`, when it is declared in the data block
# (transformed data counts: a response read through `to_vector` is still the response).
likelihood_vars() {
  awk '
    function strip(s) { gsub(/\/\/.*/, "", s); return s }
    { text = text " " strip($0) }
    END {
      while (match(text, /(transformed data|data)[ \t]*\{[^}]*\}/)) {
        block = substr(text, RSTART, RLENGTH); text2 = text2 substr(text, 1, RSTART - 1)
        text = substr(text, RSTART + RLENGTH)
        sub(/^[^{]*\{/, "", block)
        m = split(block, decls, ";")
        for (i = 1; i <= m; i++) {
          d = decls[i]; gsub(/<[^>]*>/, "", d); gsub(/\[[^]]*\]/, "", d); sub(/=.*/, "", d); gsub(/[ \t]+$/, "", d)
          if (match(d, /[A-Za-z_][A-Za-z0-9_]*$/)) data[substr(d, RSTART, RLENGTH)] = 1
        }
      }
      all = text2 text
      k = split(all, stmts, /[;{}]/)
      for (i = 1; i <= k; i++) {
        s = stmts[i]
        if (s ~ /~/) {
          lhs = s; sub(/~.*/, "", lhs)
          while (match(lhs, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) lhs = substr(lhs, RSTART + RLENGTH)
          if (match(lhs, /[A-Za-z_][A-Za-z0-9_]*/)) { v = substr(lhs, RSTART, RLENGTH); if (v in data) seen[v] = 1 }
        }
        while (match(s, /_(lpdf|lpmf|lupdf|lupmf)[ \t]*\([ \t]*[A-Za-z_][A-Za-z0-9_]*/)) {
          a = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
          sub(/.*\([ \t]*/, "", a); if (a in data) seen[a] = 1
        }
      }
      out = ""; for (v in seen) out = out (out == "" ? "" : ",") v
      print (out == "" ? "-" : out)
    }' "$1" | tr ',' '\n' | sort | paste -sd, -
}

echo "| dataset | seed | modelled | response | right | score | ELPD-LOO | expert ELPD | difference | max(2, se) | target | wall s |"
echo "|---|---:|---|---|---|---:|---:|---:|---:|---:|---|---:|"
for ds in $datasets; do
  expert=$(jq -r ".${ds}.elpd_loo" "$expert_json")
  # The target's tolerance: max(2, se of the expert's ELPD-LOO).
  tol=$(jq -r "[2, .${ds}.se] | max" "$expert_json")
  for seed in $seeds; do
    dir=$out_root/$ds-seed$seed
    rm -rf "$dir"
    start=$(date +%s.%N)
    describe=()
    if [ "${REALDATA_DESCRIBE:-0}" = 1 ]; then
      describe=(--describe "$(jq -r ".${ds}" "$here/datasets/real/describe.json")")
    fi
    "$bin" synth --data "$here/datasets/real/$ds.json" --seed "$seed" --output-dir "$dir" "${describe[@]}" "$@" \
      >"$dir.stdout" 2>"$dir.stderr" || true
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    if [ -f "$dir/best_program.stan" ]; then
      vars=$(likelihood_vars "$dir/best_program.stan")
    else
      vars=-
    fi
    right=wrong
    [ "$vars" = "${response[$ds]}" ] && right=right
    if [ -f "$dir/best_program_diagnostics.json" ]; then
      d=$dir/best_program_diagnostics.json
      score=$(jq '.reliability.score' "$d")
      elpd=$(printf "%.2f" "$(jq .loo.elpd_loo "$d")")
      diff=$(printf "%+.2f" "$(echo "$elpd - ($expert)" | bc -l)")
    else
      score=-; elpd=-; diff=-
    fi
    met=no
    if [ "$right" = right ] && [ "$score" != - ] && [ "$score" -ge 6 ] \
      && [ "$(echo "${diff#+} >= -$tol" | bc -l)" = 1 ]; then
      met=yes
    fi
    printf "| %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %.2f | %s | %.1f |\n" "$ds" "$seed" "$vars" \
      "${response[$ds]}" "$right" "$score" "$elpd" "$expert" "$diff" "$tol" "$met" "$wall"
  done
done
