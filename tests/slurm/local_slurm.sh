#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for tests/test_slurm_real.py (and for trying
# `zshbench run --launcher slurm` locally): writes a slurm.conf for this host under DIR, starts
# munged (if no munged answers yet), slurmctld and slurmd, and waits until the node is idle.
#
#   tests/slurm/local_slurm.sh start [DIR]   # then: export SLURM_CONF=DIR/slurm.conf
#   tests/slurm/local_slurm.sh stop [DIR]
#
# Needs root and Debian's slurm-wlm and munge (apt-get install slurm-wlm munge). Ports 6817/6818
# unless ZSHBENCH_SLURMCTLD_PORT / ZSHBENCH_SLURMD_PORT say otherwise. Exits non-zero with the
# reason (and the daemons' last log lines) when the cluster does not come up.
set -euo pipefail
action=${1:-start}
dir=$(realpath -m "${2:-${ZSHBENCH_SLURM_DIR:-/var/tmp/zshbench-slurm}}")
host=$(hostname -s)
ctld_port=${ZSHBENCH_SLURMCTLD_PORT:-6817}
slurmd_port=${ZSHBENCH_SLURMD_PORT:-6818}

fail() { echo "local_slurm: $*" >&2; for log in "$dir"/*.log; do [ -f "$log" ] && { echo "--- $log" >&2; tail -n 15 "$log" >&2; }; done; exit 1; }

stop() {
  for name in slurmd slurmctld; do
    if [ -f "$dir/$name.pid" ]; then
      pid=$(cat "$dir/$name.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$dir/$name.pid"
    fi
  done
}

if [ "$action" = stop ]; then stop; exit 0; fi
[ "$action" = start ] || fail "usage: $0 start|stop [DIR]"
[ "$(id -u)" = 0 ] || fail "needs root (slurmd runs jobs as their users)"
for tool in munged slurmctld slurmd sbatch sinfo scontrol; do
  command -v "$tool" >/dev/null || fail "$tool not found: apt-get install slurm-wlm munge"
done

mkdir -p "$dir/state" "$dir/spool"
cpus=$(nproc)
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
cat > "$dir/slurm.conf" <<CONF
ClusterName=zshbench
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
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
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF=$dir/slurm.conf

# munge: reuse a running munged, else start one (with a key, made if missing)
if ! munge -n </dev/null >/dev/null 2>&1; then
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  if id munge >/dev/null 2>&1; then
    su -s /bin/sh munge -c munged 2>"$dir/munged.log" || munged --force 2>>"$dir/munged.log" || true
  else
    munged --force 2>"$dir/munged.log" || true
  fi
  for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n </dev/null >/dev/null 2>&1 || fail "munged did not start"
fi

stop  # daemons of an earlier start with this DIR
slurmctld -c -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
for _ in $(seq 300); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n1 || true)
  case "$state" in idle|mixed|allocated) echo "local_slurm: up ($host $state), SLURM_CONF=$SLURM_CONF"; exit 0;; esac
  sleep 0.2
done
fail "the node did not become idle in 60 s (sinfo says: ${state:-nothing})"
