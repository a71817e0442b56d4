#!/usr/bin/env bash
# Speech Commands (v0.02, 16 kHz, one word a clip, many speakers): speaker-disjoint data
# dirs, fbank, word-piece tokens and a word unigram LM, BiLSTM-CTC, decoding.
# Run from anywhere; options: run.sh --help. Stages are skipped when their outputs exist.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=6
corpus_dir=${SPEECH_COMMANDS_DIR:-}  # else the official archive is downloaded into $data/../downloads
data=data
exp=exp
train_config=conf/bilstm.yaml
exp_name=                # default: the config's file name
dev_percent=10           # speakers to dev and test when the corpus has no official lists
test_percent=10
split_seed=0             # salt of the speaker hash for that split
max_speakers=0           # at most this many speakers per set (tests make small sets); 0: all
token_type=bpe           # char | bpe | unigram
vocab_size=140           # bpe 140: every one of the 35 words is a single token (RESULTS.md)
speed_perturb=           # e.g. 0.9,1.0,1.1: speed-perturbed training copies (Kaldi sp prefixes)
noise_dir=               # noise for data.augment.noise; default: the corpus's _background_noise_
rir_dir=                 # RIRs for data.augment.reverb; default: simulated ones in $data/rirs
decode_sets="dev test"
decode_method="greedy prefix_beam prefix_beam_lm"  # one or more of these
beam=10                  # prefix beam size
chunk_ms=""              # also decode as streams of these chunks (ms), e.g. "640 320 160":
                         # a streaming model (conf/*_streaming.yaml); "": whole utterances only
lm_order=1               # one word an utterance: a unigram over the training words
lm_weight=0.3            # shallow-fusion weight and per-word bonus for prefix_beam_lm
lm_bonus=0.0
train_overrides=""       # e.g. "train.epochs=2 optim.lr=1e-3"
init_from=               # start from this model file's matching tensors (train.init_from),
                         # e.g. exp/bilstm/final.pt for a conf/lc_bilstm_streaming.yaml
help_message="Usage: $0 [options]   (Speech Commands recipe: stages 0-6)"
. ../../scripts/parse_options.sh
. ../../scripts/stages.sh

exp_name=${exp_name:-$(basename "$train_config" .yaml)}
lang=$data/lang_$token_type
[ "$token_type" = char ] || lang+=$vocab_size  # lang_bpe140
lm=$data/lm/word_${lm_order}gram.arpa
train_set=train${speed_perturb:+_sp}
dir=$exp/$exp_name
download=false
if [ -z "$corpus_dir" ]; then
  corpus_dir=$(dirname "$data")/downloads/speech_commands_v0.02 download=true
fi
noise_dir=${noise_dir:-$corpus_dir/_background_noise_}
rir_dir=${rir_dir:-$data/rirs}

if run_stage 0; then
  if $download; then local/download_speech_commands.sh "$corpus_dir"; fi
  [ -d "$corpus_dir" ] || { echo "$0: Speech Commands dir '$corpus_dir' does not exist" \
    "(give --corpus-dir DIR or set SPEECH_COMMANDS_DIR; leave both unset to download)" >&2
    exit 1; }
fi

if run_stage 1 && [ ! -f "$data/test/wav.scp" ]; then
  echo "stage 1: speaker-disjoint data dirs in $data"
  python local/prepare_speech_commands.py --corpus-dir "$corpus_dir" --out "$data" \
    --dev-percent "$dev_percent" --test-percent "$test_percent" --seed "$split_seed" \
    --max-speakers "$max_speakers"
  for s in train dev test; do asr validate-data "$data/$s"; done
fi

if run_stage 2; then
  feature_stage 2 --data "$data" --train "$train_set" --sets "dev test" \
    --speed-perturb "$speed_perturb" --perturb-from train
  rir_stage 2 --out "$rir_dir" --sample-rate 16000
fi
if run_stage 3; then
  lang_stage 3 --text "$data/train/text" --out "$lang" --token-type "$token_type" \
    --vocab-size "$vocab_size" --lm "$lm" --lm-order "$lm_order"
fi
if run_stage 4; then
  train_stage 4 --config "$train_config" --exp-dir "$dir" --train-dir "$data/$train_set" \
    --dev-dir "$data/dev" --lang-dir "$lang" --noise "$noise_dir" --rirs "$rir_dir" \
    --init-from "$init_from" --overrides "$train_overrides"
fi

# stage 5 decodes each set with each method, whole and as streams of each --chunk-ms
# (a decode newer than final.pt is kept);
# stage 6 prints their %WER lines
if run_stage 5; then
  decode_sets 5 --model "$dir/final.pt" --data "$data" --methods "$decode_method" \
    --sets "$decode_sets" --chunks "$chunk_ms" --beam "$beam" --lm "$lm" \
    --lm-weight "$lm_weight" --lm-bonus "$lm_bonus"
fi
if run_stage 6; then
  print_wers --exp-dir "$dir" --methods "$decode_method" --sets "$decode_sets" --chunks "$chunk_ms"
fi
