#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, entirely inside DIR (for tests and trying out
# `grpo sweep --backend slurm`): Debian's slurmctld, slurmd and munge (scripts/setup.sh installs
# them), run as root, no cgroups, no systemd.
#
#   scripts/slurm/local_cluster.sh start DIR   # writes DIR/slurm.conf, starts munged, slurmctld,
#                                              # slurmd; waits until the node is idle
#   export SLURM_CONF=DIR/slurm.conf           # then sbatch, squeue, sinfo, scontrol talk to it
#   scripts/slurm/local_cluster.sh stop DIR    # stops the three daemons (by their pid files)
#
# Authentication is munge with a key created in DIR and munged listening on DIR/munge.socket
# (slurm.conf's AuthInfo=socket=... points slurm at it), so the machine's own munge setup, if
# any, is left alone. Ports: GRPO_SLURM_PORT (slurmctld, default 16817) and the next one
# (slurmd). Exit codes: 0 ok, 2 usage, 3 the daemons cannot run here (missing packages, not
# root, a daemon that does not come up); the reason is printed on stderr.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
conf="$dir/slurm.conf"
cannot() { echo "local_cluster: cannot run a Slurm cluster here: $*" >&2; exit 3; }

stop_pidfile() {
  local f=$1
  [ -f "$f" ] || return 0
  local pid
  pid=$(cat "$f" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

if [ "$cmd" = stop ]; then
  # Jobs first (their slurmstepd would outlive slurmd), while the daemons still answer.
  if [ -f "$conf" ] && [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    export SLURM_CONF="$conf"
    if [ -n "$(squeue -h 2>/dev/null)" ]; then
      scancel --full -u "$(id -un)" 2>/dev/null || true
      for _ in $(seq 50); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
    fi
  fi
  stop_pidfile "$dir/slurmd.pid"
  stop_pidfile "$dir/slurmctld.pid"
  stop_pidfile "$dir/munged.pid"
  exit 0
fi
[ "$cmd" = start ] || usage

for p in munged mungekey slurmctld slurmd sbatch sinfo scontrol; do
  command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] ||
    cannot "$p not found (scripts/setup.sh installs slurmctld, slurmd, munge)"
done
[ "$(id -u)" -eq 0 ] || cannot "the daemons run as root here (SlurmUser=root), and this is uid $(id -u)"
PATH="$PATH:/usr/sbin"

host=$(hostname -s)
port=${GRPO_SLURM_PORT:-16817}
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"

# munge: a fresh key, a daemon of our own on a socket in DIR.
if [ ! -f "$dir/munge/munge.key" ]; then
  mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 ||
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
fi
chmod 600 "$dir/munge/munge.key"
socket="$dir/munge/munge.socket"
if ! { [ -f "$dir/munged.pid" ] && kill -0 "$(cat "$dir/munged.pid")" 2>/dev/null; }; then
  munged --force --socket="$socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" \
    --seed-file="$dir/munge/munged.seed" >/dev/null 2>&1 ||
    cannot "munged does not start: $(tail -n 3 "$dir/munged.log" 2>/dev/null)"
fi
echo test | munge --socket="$socket" | unmunge --socket="$socket" >/dev/null 2>&1 ||
  cannot "munge credentials do not round-trip through $socket"

cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
cat >"$conf" <<EOF
# Written by scripts/slurm/local_cluster.sh: a one-node cluster living in $dir.
ClusterName=grpolocal
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket,cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
MinJobAge=300
MailProg=/bin/true
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$conf"

if ! { [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; }; then
  slurmctld -f "$conf" -c >/dev/null 2>&1 ||
    cannot "slurmctld does not start: $(tail -n 5 "$dir/slurmctld.log" 2>/dev/null)"
fi
if ! { [ -f "$dir/slurmd.pid" ] && kill -0 "$(cat "$dir/slurmd.pid")" 2>/dev/null; }; then
  slurmd -f "$conf" -N "$host" >/dev/null 2>&1 ||
    cannot "slurmd does not start: $(tail -n 5 "$dir/slurmd.log" 2>/dev/null)"
fi

# Up when the node reports idle (a few seconds).
for _ in $(seq 150); do
  state=$(sinfo -h -n "$host" -o '%t' 2>/dev/null || true)
  if [ "$state" = idle ]; then
    echo "local_cluster: node $host idle; export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 0.2
done
cannot "node $host is '${state:-unknown}' after 30 s; logs: $dir/slurmctld.log $dir/slurmd.log
$(tail -n 5 "$dir/slurmctld.log" 2>/dev/null)
$(tail -n 5 "$dir/slurmd.log" 2>/dev/null)"
