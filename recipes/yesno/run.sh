#!/usr/bin/env bash
# Kaldi's yesno (waves_yesno, 60 files of 8 Hebrew yes/no words, 8 kHz): the smallest
# recipe that runs every stage. lhotse prepares the manifests; everything else is asr.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=6
corpus_dir=${YESNO_DIR:-}  # the waves_yesno dir; empty: download it (lhotse) into $downloads
downloads=downloads
data=data
exp=exp
train_config=conf/bilstm.yaml
decode_methods="greedy prefix_beam"
blank_penalty=0          # subtracted from blank's log-prob before each search
train_overrides=""       # e.g. "train.epochs=2"
help_message="Usage: $0 [options]   (yesno recipe: stages 0-6)"
. ../../scripts/parse_options.sh
. ../../scripts/stages.sh

dir=$exp/$(basename "$train_config" .yaml)

if run_stage 0 && [ -z "$corpus_dir" ]; then
  corpus_dir=$downloads/waves_yesno
  [ -d "$corpus_dir" ] || lhotse download yesno "$downloads"
fi
corpus_dir=${corpus_dir:-$downloads/waves_yesno}

if run_stage 1 && [ ! -f "$data/test/text" ]; then
  echo "stage 1: lhotse manifests and Kaldi data dirs in $data"
  lhotse prepare yesno "$corpus_dir" "$data/manifests"
  for s in train test; do
    asr lhotse-export --recordings "$data/manifests/yesno_recordings_$s.jsonl.gz" \
      --supervisions "$data/manifests/yesno_supervisions_$s.jsonl.gz" "$data/$s"
    asr validate-data "$data/$s"
  done
fi

if run_stage 2; then
  feature_stage 2 --data "$data" --train train --sets test --speaker-cmvn false
fi
if run_stage 3; then
  lang_stage 3 --text "$data/train/text" --out "$data/lang" --token-type char
fi
if run_stage 4; then  # the test set doubles as the dev set, as in Kaldi and icefall
  train_stage 4 --config "$train_config" --exp-dir "$dir" --train-dir "$data/train" \
    --dev-dir "$data/test" --lang-dir "$data/lang" --overrides "$train_overrides"
fi

# stage 5 decodes test with each method (a decode newer than final.pt is kept);
# stage 6 prints their %WER lines
if run_stage 5; then
  decode_sets 5 --model "$dir/final.pt" --data "$data" --methods "$decode_methods" \
    --sets test -- --blank-penalty "$blank_penalty"
fi
if run_stage 6; then print_wers --exp-dir "$dir" --methods "$decode_methods" --sets test; fi
