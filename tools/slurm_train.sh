#!/usr/bin/env bash
# Training on a slurm cluster:
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args]
#
# Time limits and preemption (docs/reliability.md, "Preemption"): train.py
# turns SIGTERM into "finish this iteration, save a checkpoint, exit with
# status 143". srun is given --signal="$SIGNAL" (default TERM@120): slurm
# sends SIGTERM to every task about 120 s before the job's time limit (up to
# 60 s earlier, slurm's resolution), so a rerun with --resume (or
# --resume-if-any in a requeued job) loses no work. SIGNAL=TERM@300 gives
# slow iterations more time; SIGNAL= (empty) sends nothing. A preemption
# sends SIGTERM to the tasks anyway; the partition's GraceTime must cover
# one iteration and a checkpoint.
# A SIGTERM or SIGINT this script receives itself (e.g. from
# `#SBATCH --signal=B:TERM@120` in a batch script that runs it, or
# `scancel --batch --signal=TERM JOBID`) is forwarded to srun, which
# forwards it to the tasks; the script then exits with srun's status.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
SIGNAL=${SIGNAL-TERM@120}

PYTHONPATH="$(dirname "$0")/..":${PYTHONPATH:-} \
srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 ${SIGNAL:+--signal="$SIGNAL"} $SRUN_ARGS \
    python -u "$(dirname "$0")/train.py" "$CONFIG" --launcher slurm "${@:4}" &
SRUN_PID=$!

# srun forwards SIGTERM to the tasks (a single SIGINT only makes it report
# their state), so both are passed on as SIGTERM.
forward() { kill -TERM "$SRUN_PID" 2>/dev/null || true; }
trap forward TERM INT

# A trapped signal interrupts `wait` (status > 128); wait again until srun
# has ended, then exit with its status.
while true; do
    status=0
    wait "$SRUN_PID" || status=$?
    kill -0 "$SRUN_PID" 2>/dev/null || break
done
exit "$status"
