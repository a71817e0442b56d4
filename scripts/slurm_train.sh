#!/usr/bin/env bash
#SBATCH --job-name=asr-train
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1     # one torchrun per node; it starts one rank per GPU
#SBATCH --gpus-per-node=1
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --signal=B:USR1@90      # a warning to this script 90 s before the time limit
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=slurm-%x-%j.out
#
# usage (from the directory the asr train paths are relative to):
#   sbatch [--nodes N --gpus-per-node G] path/to/scripts/slurm_train.sh \
#     --config c.yaml --exp-dir exp/x --train-dir data/train --dev-dir data/dev --lang-dir data/lang
#
# On the warning (USR1) this script signals every job step with SIGTERM: torchrun passes it
# to all ranks, which agree, save at the next step boundary and exit with code 75. Then
# the script requeues the job, which resumes from that checkpoint. A rank that dies is
# restarted by torchrun (--max-restarts) and resumes the same way.
set -uo pipefail
here=$(dirname "$(readlink -f "$0")")
# sbatch runs a copy of this file from its spool dir: find the launcher beside the original
[ -x "$here/torchrun_train.sh" ] || here="${ASR_SCRIPTS:-$SLURM_SUBMIT_DIR/scripts}"

preempted=false
on_warning() {
  preempted=true
  echo "$(date '+%F %T') slurm_train.sh: time limit or preemption near; checkpointing" >&2
  scancel --signal=TERM "$SLURM_JOB_ID"  # job steps only, not this script
}
trap on_warning USR1

nodes="${SLURM_JOB_NUM_NODES:-1}"
master="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1):29500"
srun --kill-on-bad-exit=1 "$here/torchrun_train.sh" --nproc-per-node "${SLURM_GPUS_ON_NODE:-1}" \
  --nnodes "$nodes" --master "$master" --rdzv-id "$SLURM_JOB_ID" -- "$@" &
pid=$!
rc=0; wait "$pid" || rc=$?
while $preempted && kill -0 "$pid" 2>/dev/null; do  # the trap interrupted wait: wait again
  rc=0; wait "$pid" || rc=$?
done
if $preempted; then
  echo "slurm_train.sh: training stopped (exit $rc); requeueing job $SLURM_JOB_ID" >&2
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
fi
exit "$rc"
