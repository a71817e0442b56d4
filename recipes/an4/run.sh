#!/usr/bin/env bash
# CMU AN4 (read sentences: names, addresses and numbers spelled out; 16 kHz): data dirs from
# either official layout, fbank, tokens and a word n-gram LM, CTC training, decoding of dev
# (whole speakers held out of training) and of the official test set when the corpus has it.
# Run from anywhere; options: run.sh --help. Stages are skipped when their outputs exist.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=6
corpus_dir=${AN4_DIR:-}  # the an4 folder (etc/, wav/); else downloaded into $data/../downloads
data=data
exp=exp
train_config=conf/bilstm.yaml
exp_name=                # default: the config's file name
dev_utts=100             # utterances of whole speakers held out of training as dev
token_type=char          # char | bpe | unigram
vocab_size=0             # for bpe and unigram (ESPnet: bpe 30)
speed_perturb=           # e.g. 0.9,1.0,1.1: speed-perturbed training copies (Kaldi sp prefixes)
decode_method="greedy prefix_beam prefix_beam_lm"  # one or more of these
beam=10                  # prefix beam size
lm_order=3               # word n-gram LM trained on the training text (stage 3)
lm_weight=0.5            # shallow-fusion weight and per-word bonus for prefix_beam_lm
lm_bonus=1.0
train_overrides=""       # e.g. "train.epochs=2 optim.lr=1e-3"
init_from=               # start from this model file's matching tensors (train.init_from)
help_message="Usage: $0 [options]   (AN4 recipe: stages 0-6)"
. ../../scripts/parse_options.sh
. ../../scripts/stages.sh

exp_name=${exp_name:-$(basename "$train_config" .yaml)}
lang=$data/lang_$token_type
[ "$token_type" = char ] || lang+=$vocab_size  # lang_bpe30
lm=$data/lm/word_${lm_order}gram.arpa
train_set=train${speed_perturb:+_sp}
dir=$exp/$exp_name

if run_stage 0; then
  if [ -z "$corpus_dir" ]; then
    local/download_an4.sh "$(dirname "$data")/downloads"
    corpus_dir=$(dirname "$data")/downloads/an4
  fi
  [ -d "$corpus_dir/etc" ] || { echo "$0: AN4 dir '$corpus_dir' has no etc/" \
    "(give --corpus-dir DIR or set AN4_DIR to the an4 folder; leave both unset to download)" >&2
    exit 1; }
fi

if run_stage 1 && [ ! -f "$data/dev/wav.scp" ]; then
  echo "stage 1: data dirs in $data (dev: $dev_utts utterances of held-out speakers)"
  python local/prepare_an4.py --corpus-dir "$corpus_dir" --out "$data" --dev-utts "$dev_utts"
  for s in train dev test; do [ ! -d "$data/$s" ] || asr validate-data "$data/$s"; done
fi

sets=dev
[ ! -f "$data/test/text" ] || sets="dev test"  # the official test set, when the corpus has it
if run_stage 2; then
  feature_stage 2 --data "$data" --train "$train_set" --sets "$sets" \
    --speed-perturb "$speed_perturb" --perturb-from train
fi
if run_stage 3; then
  lang_stage 3 --text "$data/train/text" --out "$lang" --token-type "$token_type" \
    --vocab-size "$vocab_size" --lm "$lm" --lm-order "$lm_order"
fi
if run_stage 4; then
  train_stage 4 --config "$train_config" --exp-dir "$dir" --train-dir "$data/$train_set" \
    --dev-dir "$data/dev" --lang-dir "$lang" --init-from "$init_from" \
    --overrides "$train_overrides"
fi

# stage 5 decodes each set with each method (a decode newer than final.pt is kept);
# stage 6 prints their %WER lines, then the %CER lines of the same decodes
if run_stage 5; then
  decode_sets 5 --model "$dir/final.pt" --data "$data" --methods "$decode_method" \
    --sets "$sets" --beam "$beam" --lm "$lm" --lm-weight "$lm_weight" --lm-bonus "$lm_bonus"
fi
if run_stage 6; then
  print_wers --exp-dir "$dir" --methods "$decode_method" --sets "$sets"
  for m in $decode_method; do
    for s in $sets; do
      asr score --cer "$data/$s/text" "$dir/decode_${s}_$m/hyp" | sed -n "1s/\$/ $m $s/p"
    done
  done
fi
