#!/usr/bin/env bash
# Ends the slurmd and slurmctld that .ci/slurm/start.sh started (by the pid files in its state
# directory) and munged when start.sh started it; leaves the packages installed.
set -uo pipefail
state="${REFINESTAT_SLURM_STATE:-/tmp/refinestat-slurm}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
pidfiles=("$state/slurmd.pid" "$state/slurmctld.pid")
if [ -f "$state/started-munged" ]; then
    pidfiles+=(/run/munge/munged.pid)
    $sudo rm -f "$state/started-munged"
fi
for pidfile in "${pidfiles[@]}"; do
    if [ -f "$pidfile" ]; then
        pid="$(cat "$pidfile")"
        $sudo kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
done
