#!/usr/bin/env bash
# Screenshots of report.html for docs/: the eight schools `sample` report (top, and from the pairs
# plot on), the eight schools `synth` report (top), and the same two for sleepstudy from the public
# real-data benchmark (the expert program's `sample`, and `synth --data` without --response). Needs Debian's chromium and python3.
# Usage: scripts/report_screenshots.sh [REFINESTAT_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/refinestat}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" sample examples/eight_schools_noncentered.stan --data datasets/eight_schools.json \
  --output-dir "$work/sample" >/dev/null
"$bin" synth --dataset eight_schools --rmax 12 --output-dir "$work/synth" >/dev/null 2>&1
"$bin" sample examples/real/sleepstudy.stan --data datasets/real/sleepstudy.json \
  --output-dir "$work/real-sample" >/dev/null
"$bin" synth --data datasets/real/sleepstudy.json --seed 2 --output-dir "$work/real-synth" \
  >/dev/null 2>&1
shot() { # shot HTML PNG HEIGHT
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
    --user-data-dir="$work/profile-$RANDOM" --window-size=1280,"$3" --screenshot="$2" "file://$1" \
    >/dev/null 2>&1
}
# The page from one section on: the header, then everything after <h2 id="$2">.
from_section() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
html = open(sys.argv[1]).read()
start = html.index("<main>") + len("<main>")
cut = html.index('<h2 id="%s"' % sys.argv[2])
open(sys.argv[3], "w").write(html[:start] + html[cut:])
PY
}
shot "$work/sample/report.html" docs/report-sample.png 2300
from_section "$work/sample/report.html" pairs "$work/ppc.html"
shot "$work/ppc.html" docs/report-sample-ppc.png 2500
shot "$work/synth/report.html" docs/report-synth.png 2300
shot "$work/real-sample/report.html" docs/report-real-sample.png 2300
shot "$work/real-synth/report.html" docs/report-real-synth.png 2300
ls -l docs/report-*.png
