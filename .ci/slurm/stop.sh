#!/usr/bin/env bash
# Ends the slurmd and slurmctld that .ci/slurm/start.sh started (by their pid files) and the
# munged it started; leaves the packages installed.
set -uo pipefail
state="${REFINESTAT_SLURM_STATE:-/tmp/refinestat-slurm}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid" /run/munge/munged.pid; do
    if [ -f "$pidfile" ]; then
        pid="$(cat "$pidfile")"
        $sudo kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
done
