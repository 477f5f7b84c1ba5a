#!/usr/bin/env bash
# Starts a single-node Slurm on localhost (munged, slurmctld, slurmd) from Debian's packages,
# installing them when missing, and waits until `sinfo` shows the node idle. State, logs and the
# filled-in slurm.conf go under $REFINESTAT_SLURM_STATE (default /tmp/refinestat-slurm); every
# Slurm command must see SLURM_CONF=$REFINESTAT_SLURM_STATE/slurm.conf (printed last, for eval:
#   eval "$(.ci/slurm/start.sh)"
# ). .ci/slurm/stop.sh ends the daemons this script started.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${REFINESTAT_SLURM_STATE:-/tmp/refinestat-slurm}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
say() { echo "slurm: $*" >&2; }

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 \
    || ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        say "Slurm is not installed and there is no apt-get to install it" >&2
        exit 1
    fi
    say "installing munge, slurmctld, slurmd and slurm-client (Debian packages)"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        munge slurmctld slurmd slurm-client >/dev/null
fi

$sudo mkdir -p "$state/ctld" "$state/d"
sed -e "s|@CPUS@|$(nproc)|" -e "s|@STATE@|$state|g" "$here/slurm.conf" \
    | $sudo tee "$state/slurm.conf" >/dev/null
export SLURM_CONF="$state/slurm.conf"

# munge: a key (the package makes one; make it if not), then the daemon as its user.
if [ ! -s /etc/munge/munge.key ]; then
    $sudo mkdir -p /etc/munge
    $sudo dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
$sudo chown munge:munge /etc/munge/munge.key
$sudo chmod 400 /etc/munge/munge.key
$sudo mkdir -p /run/munge /var/lib/munge /var/log/munge
$sudo chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge -n >/dev/null 2>&1; then
    say "starting munged"
    $sudo runuser -u munge -- /usr/sbin/munged
    $sudo touch "$state/started-munged"
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.2; done
    munge -n | unmunge >/dev/null
fi

if ! scontrol ping 2>/dev/null | grep -q UP; then
    say "starting slurmctld"
    $sudo env SLURM_CONF="$SLURM_CONF" slurmctld -c
fi
if [ ! -f "$state/slurmd.pid" ] || ! kill -0 "$(cat "$state/slurmd.pid")" 2>/dev/null; then
    say "starting slurmd"
    $sudo env SLURM_CONF="$SLURM_CONF" slurmd -N localhost
fi

# The node comes up unknown, then idle (ReturnToService=2 clears an earlier down state).
for i in $(seq 120); do
    node="$(sinfo -h -n localhost -o %T 2>/dev/null || true)"
    if [ "$node" = "idle" ]; then
        say "node localhost idle after ${i} checks"
        echo "export SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    if [ $((i % 20)) -eq 0 ]; then
        say "node localhost is '${node}'"
        $sudo env SLURM_CONF="$SLURM_CONF" scontrol update nodename=localhost state=resume \
            >/dev/null 2>&1 || true
    fi
    sleep 0.5
done
say "the node did not become idle; sinfo and the last log lines follow" >&2
sinfo >&2 || true
tail -n 20 "$state/slurmctld.log" "$state/slurmd.log" >&2 || true
exit 1
