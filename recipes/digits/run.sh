#!/usr/bin/env bash
# Connected spoken digits (FSDD, 8 kHz): data prep, fbank, tokens and LM, BiLSTM-CTC, decoding.
# Run from anywhere; options: run.sh --help. Stages are skipped when their outputs exist.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=6
fsdd_dir=${FSDD_DIR:-}   # else the public dataset is downloaded into $data/../downloads
data=data
exp=exp
train_config=conf/bilstm.yaml
exp_name=                # default: the config's file name
token_type=char          # char | bpe | unigram
vocab_size=0             # for bpe and unigram
heldout_speaker=nicolas  # never heard in training: decoded as test_unseen
train_passes=4           # passes over the training takes when joining them
speed_perturb=            # e.g. 0.9,1.0,1.1: speed-perturbed training copies (Kaldi sp prefixes)
rir_dir=                  # RIRs for data.augment.reverb; default: simulated ones in $data/rirs
noise_dir=                # noise for data.augment.noise (a config that asks for it), e.g.
                          # Speech Commands' _background_noise_ or MUSAN's noise/
max_takes=50             # use takes below this index only (tests make small sets)
decode_sets="dev test test_unseen"
decode_method=greedy     # one or more of: greedy prefix_beam prefix_beam_lm
beam=10                  # prefix beam size
chunk_ms=""              # also decode as streams of these chunks (ms), e.g. "640 320 160":
                         # a streaming model (conf/*_streaming.yaml); "": whole utterances only
lm_order=3               # word n-gram LM trained on the training text (stage 3)
lm_weight=0.5            # shallow-fusion weight and per-word bonus for prefix_beam_lm
lm_bonus=0.0
train_overrides=""       # e.g. "train.epochs=2 optim.lr=1e-3"
shard_size=              # N: train from lhotse Shar shards of N utterances ($data/shar, of
                         # audio: the config computes fbank on the fly); "": from data dirs
init_from=               # start from this model file's matching tensors (train.init_from),
                         # e.g. exp/bilstm/final.pt for conf/lc_bilstm_streaming.yaml
help_message="Usage: $0 [options]   (FSDD digits recipe: stages 0-6)"
. ../../scripts/parse_options.sh
. ../../scripts/stages.sh

exp_name=${exp_name:-$(basename "$train_config" .yaml)}
lang=$data/lang_$token_type
lm=$data/lm/word_${lm_order}gram.arpa
train_set=train${speed_perturb:+_sp}
dir=$exp/$exp_name
rir_dir=${rir_dir:-$data/rirs}

if run_stage 0; then
  if [ -z "$fsdd_dir" ]; then
    fsdd_dir=$(dirname "$data")/downloads/fsdd/recordings
    local/download_fsdd.sh "$(dirname "$fsdd_dir")"
  fi
  [ -d "$fsdd_dir" ] || { echo "$0: FSDD dir '$fsdd_dir' does not exist" \
    "(give --fsdd-dir DIR or set FSDD_DIR; leave both unset to download)" >&2; exit 1; }
fi

if run_stage 1 && [ ! -f "$data/test_unseen/wav.scp" ]; then
  echo "stage 1: connected-digit data dirs in $data"
  python local/prepare_fsdd.py --fsdd-dir "$fsdd_dir" --out "$data" \
    --heldout-speaker "$heldout_speaker" --train-passes "$train_passes" --max-takes "$max_takes"
  for s in train dev test test_unseen; do asr validate-data "$data/$s"; done
fi

if run_stage 2; then
  feature_stage 2 --data "$data" --train "$train_set" --sets "dev test test_unseen" \
    --speed-perturb "$speed_perturb" --perturb-from train
  rir_stage 2 --out "$rir_dir" --sample-rate 8000
  if [ -n "$shard_size" ]; then
    shard_stage 2 --data "$data" --sets "$train_set dev" --out "$data/shar" \
      --shard-size "$shard_size" --content audio
  fi
fi
if run_stage 3; then
  lang_stage 3 --text "$data/train/text" --out "$lang" --token-type "$token_type" \
    --vocab-size "$vocab_size" --lm "$lm" --lm-order "$lm_order"
fi
if run_stage 4; then
  train_data=$data
  if [ -n "$shard_size" ]; then
    train_data=$data/shar
    train_overrides="data.source=lhotse_shar $train_overrides"
  fi
  train_stage 4 --config "$train_config" --exp-dir "$dir" --train-dir "$train_data/$train_set" \
    --dev-dir "$train_data/dev" --lang-dir "$lang" --noise "$noise_dir" --rirs "$rir_dir" \
    --init-from "$init_from" --overrides "$train_overrides"
fi

# stage 5 decodes each set with each method, whole and as streams of each --chunk-ms
# (a decode newer than final.pt is kept), with word times and confidences (decode dir's ctm);
# stage 6 prints their %WER lines, then for the first method how far its word times are
# from where the data prep put each take (DATA/SET/ref.ctm) and how well its confidences
# separate right from wrong words
if run_stage 5; then
  decode_sets 5 --model "$dir/final.pt" --data "$data" --methods "$decode_method" \
    --sets "$decode_sets" --chunks "$chunk_ms" --beam "$beam" --lm "$lm" \
    --lm-weight "$lm_weight" --lm-bonus "$lm_bonus" -- --ctm
fi
if run_stage 6; then
  print_wers --exp-dir "$dir" --methods "$decode_method" --sets "$decode_sets" --chunks "$chunk_ms"
  for s in $decode_sets; do
    ctm=$dir/decode_${s}_${decode_method%% *}/ctm
    if [ -f "$ctm" ] && [ -f "$data/$s/ref.ctm" ]; then
      echo "$s ${decode_method%% *}: $(asr score-ctm "$ctm" --ref "$data/$s/ref.ctm" --text "$data/$s/text" | paste -sd ';')"
    fi
  done
fi
