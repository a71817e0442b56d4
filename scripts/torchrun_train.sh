#!/usr/bin/env bash
# Run `asr train` under torchrun: one rank per GPU (NCCL), or CPU ranks (gloo) without GPUs.
# When a rank dies, torchrun stops the others and restarts all of them (up to
# --max-restarts times); they resume from the newest valid checkpoint on their own.
#
#   single node:  scripts/torchrun_train.sh --nproc-per-node 4 -- --config c.yaml --exp-dir exp/x \
#                   --train-dir data/train --dev-dir data/dev --lang-dir data/lang
#   multi-node:   the same on every node, plus --nnodes 2 --master node0:29500 --rdzv-id JOB
#
# Preemption: send SIGTERM to torchrun (not SIGKILL); it passes SIGTERM to every rank,
# which saves at the next step boundary and exits with code 75. torchrun kills ranks that
# take over 30 s after the signal, so keep a step plus a save under that.
set -euo pipefail
nproc_per_node=1
nnodes=1
master=           # HOST:PORT of the rendezvous (node 0) when nnodes > 1
rdzv_id=asr       # the same on every node of one job (SLURM: the job id)
max_restarts=3
help_message="usage: $0 [options] -- <asr train arguments>"
. "$(dirname "$(readlink -f "$0")")/parse_options.sh"

if [ "$nnodes" -gt 1 ]; then
  [ -n "$master" ] || { echo "$0: --master HOST:PORT is needed with --nnodes $nnodes" >&2; exit 1; }
  rdzv=(--nnodes "$nnodes" --rdzv-backend c10d --rdzv-endpoint "$master" --rdzv-id "$rdzv_id")
else
  rdzv=(--standalone)
fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # torchrun's default too; train.num_threads overrides
exec python -m torch.distributed.run "${rdzv[@]}" --nproc-per-node "$nproc_per_node" \
  --max-restarts "$max_restarts" -m asr train "$@"
