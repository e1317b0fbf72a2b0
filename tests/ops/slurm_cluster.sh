# A private single-node Slurm cluster for tests, sourced by the Slurm test scripts: a munge
# daemon with its own key and socket, slurmctld and slurmd on this machine, a slurm.conf written
# at run time with free ports, everything under one work directory and stopped by
# slurm_cluster_stop. Debian packages slurm-wlm and munge (launch/install_deps.sh).
#   slurm_cluster_start WORK_DIR CPUS   # exports SLURM_CONF; returns once the node is idle
#   slurm_cluster_stop                  # stops the daemons (also on error: call it from a trap)

slurm_free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to $2 seconds for the command $1 to succeed.
slurm_wait_for() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    eval "$1" > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

slurm_cluster_start() {
  SLURM_DIR=$1
  local cpus=$2 node
  node=$(hostname -s)
  mkdir -p "$SLURM_DIR"/{munge,state,spool,log}
  chmod 700 "$SLURM_DIR/munge"
  # munged insists on a private key and directories no other user can write.
  head -c 1024 /dev/urandom > "$SLURM_DIR/munge/munge.key"
  chmod 400 "$SLURM_DIR/munge/munge.key"
  munged --force --key-file="$SLURM_DIR/munge/munge.key" --socket="$SLURM_DIR/munge/munge.sock" \
    --pid-file="$SLURM_DIR/munge/munged.pid" --seed-file="$SLURM_DIR/munge/munged.seed" \
    --log-file="$SLURM_DIR/log/munged.log"
  slurm_wait_for "[ -S '$SLURM_DIR/munge/munge.sock' ]" 10 || {
    echo "slurm_cluster: munged did not start" >&2; cat "$SLURM_DIR/log/munged.log" >&2; return 1
  }
  export SLURM_CONF=$SLURM_DIR/slurm.conf
  # Root runs everything; process tracking by /proc (no cgroups in containers); CPUs are taken
  # from this file, not the hardware. A requeued job waits out its credential's lifetime
  # (cred_expire, 120 s by default) and then the next scheduler pass (sched_interval, 60 s):
  # both shortened so that requeue tests take seconds.
  cat > "$SLURM_CONF" <<EOF
ClusterName=dqttest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(slurm_free_port)
SlurmdPort=$(slurm_free_port)
AuthType=auth/munge
AuthInfo=socket=$SLURM_DIR/munge/munge.sock,cred_expire=5
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=30
MinJobAge=600
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  slurmctld -i -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF" -N "$node"
  if ! slurm_wait_for "sinfo -h -N -o %T | grep -qx idle" 30; then
    echo "slurm_cluster: the node did not become idle: $(sinfo -h -N -o '%T %E' 2>&1)" >&2
    tail -n 20 "$SLURM_DIR"/log/slurm*.log >&2
    return 1
  fi
}

slurm_cluster_stop() {
  [ -n "${SLURM_DIR:-}" ] || return 0
  local f pid
  scancel --full "--user=$(id -un)" 2> /dev/null || true
  for f in slurmd slurmctld munge/munged; do
    pid=$(cat "$SLURM_DIR/$f.pid" 2> /dev/null) || continue
    kill "$pid" 2> /dev/null || continue
    slurm_wait_for "! kill -0 $pid" 10 || kill -KILL "$pid" 2> /dev/null || true
  done
}
