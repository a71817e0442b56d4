#!/usr/bin/env bash
# LibriSpeech (16 kHz read English): lhotse data prep, speed perturbation, fbank, BPE 500,
# a ~30M Conformer-CTC (or BiLSTM-CTC) with GradientFilter trained on 1..N GPUs through
# torchrun or SLURM, averaged checkpoints, greedy and prefix-beam decoding of test-clean
# and test-other. Options: run.sh --help. Stages skip what is already done.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=7
corpus_dir=            # holds LibriSpeech/<part>/; empty: download it (lhotse) into $downloads
downloads=downloads
train_parts="train-clean-100"  # the 960 h setup adds train-clean-360 and train-other-500
dev_parts="dev-clean dev-other"
test_parts="test-clean test-other"
data=data
exp=exp
nj=8                   # parallel jobs for data prep and fbank
speed_perturb=0.9,1.0,1.1
vocab_size=500
train_config=conf/conformer.yaml
launcher=torchrun      # local (one process) | torchrun | slurm (sbatch --wait)
nproc=1                # ranks per node: GPUs, or CPU processes (gloo) without GPUs
average=10             # the last N epoch checkpoints averaged for decoding
decode_methods="greedy prefix_beam"
chunk_ms=""            # also decode as streams of these chunks (ms), e.g. "640 320 160":
                       # a streaming model (conf/conformer_streaming.yaml)
train_overrides=""     # e.g. "train.epochs=30 data.max_frames=40000"
help_message="Usage: $0 [options]   (LibriSpeech recipe: stages 0-7)"
. ../../scripts/parse_options.sh
. ../../scripts/stages.sh

name() { echo "${1//-/_}"; }  # Kaldi-style data dir names: test-clean -> test_clean
dir=$exp/$(basename "$train_config" .yaml)
lang=$data/lang_bpe$vocab_size
corpus_dir=${corpus_dir:-$downloads}
train_set=train${speed_perturb:+_sp}
tests=$(for p in $test_parts; do name "$p"; done)

if run_stage 0 && [ ! -d "$corpus_dir/LibriSpeech" ]; then
  echo "stage 0: downloading LibriSpeech into $corpus_dir (lhotse)"
  lhotse download librispeech "$corpus_dir"
fi

if run_stage 1 && [ ! -f "$data/dev/text" ]; then
  echo "stage 1: lhotse manifests and Kaldi data dirs in $data"
  parts=($train_parts $dev_parts $test_parts)
  lhotse prepare librispeech -j "$nj" "${parts[@]/#/-p}" "$corpus_dir/LibriSpeech" "$data/manifests"
  for p in "${parts[@]}"; do
    asr lhotse-export --recordings "$data/manifests/librispeech_recordings_$p.jsonl.gz" \
      --supervisions "$data/manifests/librispeech_supervisions_$p.jsonl.gz" "$data/$(name "$p")"
  done
  asr combine-data "$data/train" $(for p in $train_parts; do echo "$data/$(name "$p")"; done)
  asr combine-data "$data/dev" $(for p in $dev_parts; do echo "$data/$(name "$p")"; done)
  for s in train dev $tests; do asr validate-data "$data/$s"; done
fi

if run_stage 2; then
  feature_stage 2 --data "$data" --train "$train_set" --sets "dev $tests" --nj "$nj" \
    --speed-perturb "$speed_perturb" --perturb-from train --speaker-cmvn false
fi
if run_stage 3; then
  lang_stage 3 --text "$data/train/text" --out "$lang" --token-type bpe --vocab-size "$vocab_size"
fi
if run_stage 4; then
  train_stage 4 --config "$train_config" --exp-dir "$dir" --train-dir "$data/$train_set" \
    --dev-dir "$data/dev" --lang-dir "$lang" --overrides "$train_overrides" \
    --launcher "$launcher" --nproc "$nproc"
fi

avg=$dir/avg-last-$average.pt
if run_stage 5; then
  echo "stage 5: averaging the last $average epochs"
  asr average --exp-dir "$dir" --last "$average" --out "$avg"
fi

# stage 6 decodes the test sets with the averaged model, whole and as streams of each
# --chunk-ms (a decode newer than it is kept); stage 7 prints their %WER lines
if run_stage 6; then
  decode_sets 6 --model "$avg" --data "$data" --methods "$decode_methods" --sets "$tests" \
    --chunks "$chunk_ms" -- --checkpoint "$avg"
fi
if run_stage 7; then
  print_wers --exp-dir "$dir" --methods "$decode_methods" --sets "$tests" --chunks "$chunk_ms"
fi
