#!/usr/bin/env bash
# The CUDA checks in one command, for the few minutes a GPU machine is lent:
#   1. the digits recipe's data (stages 0-3) from FSDD;
#   2. bf16 training of the digits BiLSTM on the GPU: run A uninterrupted, run B killed
#      (SIGKILL) in mid-epoch and resumed by rerunning, run C uninterrupted again (whether
#      two CUDA runs differ by themselves, as non-deterministic kernels would make them);
#   3. CUDA decoding of A's model (greedy, prefix beam) against CPU decoding of it;
#   4. scripts/bench_gpu.py (the 30M Conformer: bf16 training eager and compiled, decoding).
# Each section runs under what is left of --budget-s; summary.txt gets one line per result.
#
#   FSDD_DIR=... scripts/gpu_check.sh --out OUT [--device cuda] [--budget-s 480] [--epochs 3]
#   FSDD_DIR=... scripts/gpu_check.sh --out /tmp/g --device cpu --epochs 1 --bench-s 60  # rehearsal
set -uo pipefail

out='' device=cuda budget_s=480 epochs=3 bench_s=150 workers=8
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2 ;; --device) device=$2 ;; --budget-s) budget_s=$2 ;;
    --epochs) epochs=$2 ;; --bench-s) bench_s=$2 ;; --workers) workers=$2 ;;
    --help|-h) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "$0: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ -n "$out" ] && [ -n "${FSDD_DIR:-}" ] || { echo "usage: FSDD_DIR=DIR $0 --out DIR" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gpu_check.XXXX)
mkdir -p "$out"
summary=$out/summary.txt
deadline=$(( $(date +%s) + budget_s ))
if ! command -v asr >/dev/null; then  # a machine with the packages but not our entry point
  mkdir -p "$work/bin"
  printf '#!/bin/sh\nexec python3 -m asr "$@"\n' > "$work/bin/asr"
  chmod +x "$work/bin/asr"
  export PATH=$work/bin:$PATH PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH}
fi

say() { echo "$*" | tee -a "$summary"; }
left() { echo $(( deadline - $(date +%s) )); }
# section NAME NEEDED_S: false (and a summary line) when less than NEEDED_S is left
section() {
  if [ "$(left)" -lt "$2" ]; then say "SKIPPED $1: $(left) s left, needs ~$2 s"; return 1; fi
  echo "=== $1 ($(left) s left)"
}
timed() {  # timed LOG CMD...: runs CMD (output to LOG) under the time left; prints seconds
  local t0=$SECONDS rc
  local log=$1; shift
  timeout "$(left)" bash -c '"$@"' _ "$@" >> "$log" 2>&1; rc=$?
  echo "$(( SECONDS - t0 )) $rc"
}

say "gpu_check $(date -u +%FT%TZ) device=$device epochs=$epochs commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null)"
python3 - <<'EOF' 2>&1 | tee -a "$summary"
import torch, torchaudio
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"python torch {torch.__version__} torchaudio {torchaudio.__version__} gpu {gpu}")
EOF

data=$work/data exp=$work/exp
if section "data prep" 30; then
  read -r s rc < <(timed "$out/prep.log" "$repo/recipes/digits/run.sh" --fsdd-dir "$FSDD_DIR" \
    --data "$data" --exp "$exp" --stop-stage 3)
  say "data prep (digits stages 0-3): ${s} s rc=$rc"
fi

train() {  # train NAME [KEY=VALUE ...]: the digits BiLSTM recipe config in bf16 on $device
  local name=$1; shift
  asr train --config "$repo/recipes/digits/conf/bilstm.yaml" --exp-dir "$exp/$name" \
    --train-dir "$data/train" --dev-dir "$data/dev" --lang-dir "$data/lang_char" \
    "data.augment.reverb.source=$data/rirs" "train.device=${device%%:*}" train.amp=bf16 \
    "train.epochs=$epochs" "train.average_last=$epochs" "train.keep_last=$epochs" \
    "data.num_workers=$workers" "$@"
}
same() {  # same A B: compare two model files tensor by tensor
  python3 - "$1" "$2" <<'EOF'
import sys, torch
a, b = (torch.load(p, map_location="cpu", weights_only=True)["model"] for p in sys.argv[1:])
diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
equal = sum(torch.equal(a[k], b[k]) for k in a)
print(f"{equal}/{len(a)} tensors bit-identical, max abs diff {diff:.3g}")
EOF
}

export -f train
export repo data exp device epochs workers
if [ -f "$data/lang_char/tokens.txt" ] && section "train A (uninterrupted)" 60; then
  read -r s rc < <(timed "$out/train_A.log" train A)
  say "train A: $epochs epochs bf16 in ${s} s rc=$rc; $(grep -o 'dev loss [0-9.]*.*' "$out/train_A.log" | tail -1)"
fi

if [ -f "$exp/A/final.pt" ] && section "train B (killed, resumed)" 60; then
  t0=$SECONDS
  train B train.save_every_steps=20 > "$out/train_B.log" 2>&1 &
  pid=$!
  # kill -9 once a step checkpoint exists after epoch 1's: mid-epoch 2
  while kill -0 $pid 2>/dev/null && [ "$(left)" -gt 20 ]; do
    if [ -f "$exp/B/checkpoints/epoch-1.pt" ] && \
       [ -n "$(find "$exp/B/checkpoints" -name 'checkpoint-*.pt' -newer "$exp/B/checkpoints/epoch-1.pt")" ]; then
      sleep 1; kill -9 $pid; break
    fi
    sleep 0.5
  done
  wait $pid; killed_rc=$?
  ckpts=$(ls "$exp/B/checkpoints" | tr '\n' ' ')
  read -r s rc < <(timed "$out/train_B.log" train B train.save_every_steps=20)
  say "train B: killed rc=$killed_rc with checkpoints [$ckpts], resumed rc=$rc, $(( SECONDS - t0 )) s in all"
  [ -f "$exp/B/final.pt" ] && say "A vs B (resumed) final.pt: $(same "$exp/A/final.pt" "$exp/B/final.pt")"
fi

decode() {  # decode NAME DEVICE SET METHOD
  asr decode --exp-dir "$exp/A" --data-dir "$data/$3" --out "$exp/A/dec_$1_$3_$4" \
    --method "$4" --device "$2"
}
export -f decode
if [ -f "$exp/A/final.pt" ] && section "decode" 30; then
  for m in greedy prefix_beam; do
    for s in test test_unseen; do
      read -r tg rcg < <(timed "$out/decode.log" decode gpu "$device" $s $m)
      read -r tc rcc < <(timed "$out/decode.log" decode cpu cpu $s $m)
      if cmp -s "$exp/A/dec_gpu_${s}_$m/hyp" "$exp/A/dec_cpu_${s}_$m/hyp"; then same_hyp=identical
      else same_hyp="DIFFERENT ($(diff "$exp/A/dec_gpu_${s}_$m/hyp" "$exp/A/dec_cpu_${s}_$m/hyp" | grep -c '^<') lines)"; fi
      say "decode $s $m: $device ${tg} s rc=$rcg [$(head -1 "$exp/A/dec_gpu_${s}_$m/wer" 2>/dev/null)], cpu ${tc} s rc=$rcc; hyps $same_hyp"
    done
  done
  cp "$exp/A/final.pt" "$out/A_final.pt"
fi

if section "bench_gpu" 60; then
  b=$bench_s; [ "$b" -gt "$(( $(left) - 10 ))" ] && b=$(( $(left) - 10 ))
  tiny=(); [ "$device" = cpu ] && tiny=(--tiny)
  read -r s rc < <(timed "$out/bench_gpu.log" python3 "$repo/scripts/bench_gpu.py" \
    --device "$device" --budget-s "$b" --json "$out/bench_gpu.json" "${tiny[@]}")
  say "bench_gpu: ${s} s rc=$rc (table in bench_gpu.log)"
fi

if [ -f "$exp/A/final.pt" ] && section "train C (uninterrupted again)" 60; then
  read -r s rc < <(timed "$out/train_C.log" train C)
  [ -f "$exp/C/final.pt" ] && say "A vs C (both uninterrupted) final.pt: $(same "$exp/A/final.pt" "$exp/C/final.pt")"
fi
say "done, $(left) s of the budget left"
