#!/usr/bin/env bash
# The OpenAI-compatible backend against a real llama.cpp server (issue 16): builds
# llama-cpp-python (its server extra; requirements.txt pins every version) into a virtual
# environment, writes the tiny random-weight GGUF with our own writer (refinestat-testkit's
# `write_tiny_gguf`, through the `tiny_model` example), serves it with
# `python -m llama_cpp.server`, and runs `generate` (8 programs) and `synth` on eight_schools with
# `--lm openai:...` with the GBNF grammar and without. Every program is checked with
# `refinestat check --data`; requests are counted from the server's access log. First, probe.py
# checks that the server applies the grammar as sent (replies without stop texts). Prints a
# markdown table (BENCHMARKS.md, "A real llama.cpp server"). Stops the server on exit.
#
#   scripts/llama_server/run.sh [WORK_DIR]        (default /tmp/refinestat-llama)
#
# Environment: VENV (default WORK_DIR/venv; reused when it already has llama_cpp.server), PORT
# (default 8089), REFINESTAT_BIN (default target/debug/refinestat, built with
# `cargo build -p refinestat --features openai`), N (programs, default 8), SEED (default 1),
# SYNTH_FLAGS (default "--chains 2 --warmup 300 --draws 300 --rmax 6"), GRAMMARS (default
# "gbnf none"), JOBS (compile jobs for llama.cpp, default 1).
#
# llama-cpp-python ships no binary wheel on PyPI: pip compiles llama.cpp from source (CPU only),
# about 35 minutes with one job on a loaded 2-core machine, so this script is not part of CI
# (.ci/run).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-/tmp/refinestat-llama}
venv=${VENV:-$work/venv}
port=${PORT:-8089}
bin=${REFINESTAT_BIN:-$root/target/debug/refinestat}
n=${N:-8}
seed=${SEED:-1}
synth_flags=${SYNTH_FLAGS:---chains 2 --warmup 300 --draws 300 --rmax 6}
grammars=${GRAMMARS:-gbnf none}
jobs=${JOBS:-1}
data=$root/datasets/eight_schools.json
mkdir -p "$work"
cd "$root"

if [ ! -x "$bin" ]; then
  echo "no refinestat binary at $bin: cargo build -p refinestat --features openai" >&2
  exit 2
fi

# 1. llama-cpp-python with its server extra, compiled for the CPU only.
if ! "$venv/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  CMAKE_ARGS="-DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_BLAS=OFF -DGGML_NATIVE=OFF" \
    MAKEFLAGS=-j$jobs CMAKE_BUILD_PARALLEL_LEVEL=$jobs \
    nice -n 15 "$venv/bin/pip" install -r "$here/requirements.txt" >"$work/pip.log" 2>&1 || {
      tail -30 "$work/pip.log" >&2
      exit 1
    }
fi
lcp_version=$("$venv/bin/python" -c 'import llama_cpp; print(llama_cpp.__version__)')

# 2. The tiny random-weight GGUF (llama, hidden 64, 2 layers, vocabulary 640; seed 1).
cargo run -q -p refinestat-local --example tiny_model -- "$work/tiny" llama 1 --gguf
gguf=$work/tiny/model.gguf

# 3. The server, on loopback only, one thread.
server_log=$work/server.log
"$venv/bin/python" -m llama_cpp.server --model "$gguf" --model_alias tiny-stan \
  --host 127.0.0.1 --port "$port" --n_ctx 4096 --n_threads 1 >"$server_log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    tail -30 "$server_log" >&2
    exit 1
  fi
  sleep 1
done
requests() { grep -c '"POST /v1/completions' "$server_log" || true; }
refused() { grep '"POST /v1/completions' "$server_log" | grep -vc ' 200' || true; }

echo "llama-cpp-python $lcp_version; GGUF sha256 $(sha256sum "$gguf" | cut -c1-16)"
echo
# The grammar as the client sends it, applied by the server (replies without stop texts).
"$venv/bin/python" "$here/probe.py" "http://127.0.0.1:$port/v1" tiny-stan 50
echo
echo "| command | grammar | programs | valid (check --data) | completed / closed | model tokens kept / sampled | requests | requests per program | refused requests | wall s |"
echo "|---|---|---:|---:|---|---:|---:|---|---:|---:|"
for grammar in $grammars; do
  lm="openai:http://127.0.0.1:$port/v1#model=tiny-stan&grammar=$grammar"
  # generate: one program more per call (the run resumes), so each program's requests are
  # the log lines its call added.
  out=$work/generate-$grammar
  rm -rf "$out"
  per=()
  start=$(date +%s)
  before_all=$(requests)
  refused_before=$(refused)
  for i in $(seq 1 "$n"); do
    before=$(requests)
    status=0
    "$bin" generate --dataset eight_schools --lm "$lm" --n "$i" --seed "$seed" \
      --output-dir "$out" >>"$work/generate-$grammar.log" 2>&1 || status=$?
    if [ "$status" -eq 2 ]; then
      # A usage error (e.g. a binary built without `--features openai`), not a result.
      tail -3 "$work/generate-$grammar.log" >&2
      exit 1
    fi
    per+=($(($(requests) - before)))
  done
  wall=$(($(date +%s) - start))
  valid=0
  for p in "$out"/program-*.stan; do
    if [ -f "$p" ] && "$bin" check "$p" --data "$data" >/dev/null 2>&1; then valid=$((valid + 1)); fi
  done
  programs=$(find "$out" -name 'program-*.stan' | wc -l)
  completed=$(grep -c '"stop_reason":"completed"' "$out/generate.jsonl" || true)
  closed=$(grep -c '"stop_reason":"closed"' "$out/generate.jsonl" || true)
  total=$(($(requests) - before_all))
  tokens=$(jq -s '"\(map(.tokens.accepted) | add) / \(map(.tokens.sampled) | add)"' -r "$out/generate.jsonl")
  echo "| generate --n $n | $grammar | $programs | $valid | $completed / $closed | $tokens | $total | ${per[*]} | $(($(refused) - refused_before)) | $wall |"

  # synth: the whole loop; requests per generation (attempt).
  out=$work/synth-$grammar
  before=$(requests)
  refused_before=$(refused)
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$bin" synth --dataset eight_schools --lm "$lm" --seed "$seed" --output-dir "$out" --overwrite \
    $synth_flags >"$work/synth-$grammar.log" 2>&1 || true
  wall=$(($(date +%s) - start))
  total=$(($(requests) - before))
  attempts=$(jq .attempts "$out/token_usage.json" 2>/dev/null || echo 0)
  valid=0
  for p in "$out"/candidates/attempt-*.stan; do
    if [ -f "$p" ] && "$bin" check "$p" --data "$data" >/dev/null 2>&1; then valid=$((valid + 1)); fi
  done
  generations=$(jq -r -s 'map(.generation) | "\(map(select(. == "completed")) | length) / \(map(select(. == "closed")) | length)"' "$out"/candidates/attempt-*.json 2>/dev/null || echo -)
  tokens=$(jq -r -s '"\(map(.tokens.accepted) | add) / \(map(.tokens.sampled) | add)"' "$out"/candidates/attempt-*.json 2>/dev/null || echo -)
  best=-
  if [ -f "$out/best_program.stan" ]; then
    if "$bin" check "$out/best_program.stan" --data "$data" >/dev/null 2>&1; then best=valid; else best=INVALID; fi
  fi
  per_attempt=-
  if [ "$attempts" -gt 0 ]; then per_attempt=$(awk "BEGIN { printf \"%.1f\", $total / $attempts }"); fi
  stop=$(jq -r .stop "$out/token_usage.json" 2>/dev/null || echo -)
  echo "| synth ($stop, best program: $best) | $grammar | $attempts | $valid | $generations | $tokens | $total | $per_attempt | $(($(refused) - refused_before)) | $wall |"
done
if grep -qi 'grammar' "$server_log" && grep -qiE 'parse error|failed to parse|error parsing grammar' "$server_log"; then
  echo
  echo "llama.cpp refused the grammar:" >&2
  grep -iE -B2 -A5 'parse error|failed to parse|error parsing grammar' "$server_log" | head -40 >&2
  exit 1
fi
