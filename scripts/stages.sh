#!/usr/bin/env bash
# Stage helpers for recipes/*/run.sh. Source it after scripts/parse_options.sh:
#   . ../../scripts/parse_options.sh
#   . ../../scripts/stages.sh
# (after, so that nothing defined here becomes an option).

# run_stage N: true when --stage <= N <= --stop-stage (Kaldi's two-sided guard).
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

# feature_stage STAGE SET...: the features of $data/SET for each SET (the first is the
#   training set): a speed-perturbed copy of $data/train first when $speed_perturb is set
#   (the training set is then train_sp), fbank with conf/fbank.yaml, global CMVN stats of
#   the training set and per-speaker stats of every set (for data.cmvn: speaker).
feature_stage() {
  local stage_no=$1 train=$2 s todo dirs=()
  shift
  echo "stage $stage_no: features: ${speed_perturb:+speed perturbation, }fbank, CMVN stats"
  if [ -n "${speed_perturb:-}" ] && [ ! -f "$data/$train/wav.scp" ]; then
    asr speed-perturb --factors "$speed_perturb" "$data/train" "$data/$train"
  fi
  for s in "$@"; do dirs+=("$data/$s"); done
  asr fbank --config conf/fbank.yaml "${dirs[@]}" || return 1
  [ -f "$data/$train/cmvn.ark" ] || asr cmvn "$data/$train" || return 1
  todo=$(for s in "$@"; do [ -f "$data/$s/cmvn.scp" ] || echo "$data/$s"; done)
  # shellcheck disable=SC2086  # one data dir a word
  [ -z "$todo" ] || asr cmvn --per-speaker $todo
}

# lang_stage STAGE: the $token_type token list in $lang (with $vocab_size pieces) and the
#   word $lm_order-gram LM $lm, both from $data/train/text; each is skipped when it exists.
lang_stage() {
  if [ ! -f "$lang/tokens.txt" ]; then
    echo "stage $1: $token_type tokens in $lang"
    asr tokenizer --text "$data/train/text" --out "$lang" --token-type "$token_type" \
      --vocab-size "$vocab_size" || return 1
  fi
  if [ ! -f "$lm" ]; then
    echo "stage $1: word $lm_order-gram LM $lm"
    asr train-lm --text "$data/train/text" --order "$lm_order" --out "$lm"
  fi
}

# rir_stage STAGE RATE: simulated room impulse responses at RATE Hz in $rir_dir (for
#   data.augment.reverb), unless $rir_dir is empty or holds them already.
rir_stage() {
  [ -n "${rir_dir:-}" ] && [ ! -f "$rir_dir/wav.scp" ] || return 0
  echo "stage $1: simulated RIRs in $rir_dir"
  asr make-rirs "$rir_dir" --sample-rate "$2" --seed 0
}

# train_stage STAGE: asr train of $train_config into $dir on $data/$train_set and
#   $data/dev with $lang; $noise_dir and $rir_dir (when a recipe sets them) become the
#   sources of data.augment.noise and .reverb, $init_from train.init_from (a model file
#   to start from); $train_overrides are extra KEY=VALUE words.
train_stage() {
  local sources=()
  [ -z "${noise_dir:-}" ] || sources+=("data.augment.noise.source=$noise_dir")
  [ -z "${rir_dir:-}" ] || sources+=("data.augment.reverb.source=$rir_dir")
  [ -z "${init_from:-}" ] || sources+=("train.init_from=$init_from")
  echo "stage $1: training $dir"
  # shellcheck disable=SC2086  # overrides are separate words by design
  asr train --config "$train_config" --exp-dir "$dir" --train-dir "$data/$train_set" \
    --dev-dir "$data/dev" --lang-dir "$lang" "${sources[@]}" $train_overrides
}

# _method_opts METHOD: sets the array _opts to the `asr decode` options of a search method:
#   greedy; prefix_beam (--beam $beam); prefix_beam_lm (prefix_beam with --lm $lm,
#   --lm-weight $lm_weight, --lm-bonus $lm_bonus). A recipe declares the variables it
#   offers as options; undeclared ones take asr decode's defaults.
_method_opts() {
  case $1 in
    greedy) _opts=(--method greedy) ;;
    prefix_beam) _opts=(--method prefix_beam --beam "${beam:-10}") ;;
    prefix_beam_lm)
      [ -n "${lm:-}" ] || { echo "$0: decode method prefix_beam_lm needs an LM (\$lm)" >&2
                            return 1; }
      _opts=(--method prefix_beam --beam "${beam:-10}" --lm "$lm"
             --lm-weight "${lm_weight:-0.5}" --lm-bonus "${lm_bonus:-0.0}") ;;
    *) echo "$0: unknown decode method '$1' (greedy, prefix_beam or prefix_beam_lm)" >&2
       return 1 ;;
  esac
}

# decode_sets STAGE MODEL DATA "METHODS" "SETS" [OPTION...]
#   For each method and set: `asr decode` DATA/SET into EXP/decode_SET_METHOD, where EXP
#   is the dir holding MODEL, unless that decode's hyp is newer than MODEL (done already).
#   OPTIONs go to every asr decode (e.g. --checkpoint MODEL). asr decode itself writes
#   the decode's wer (%WER line first) when DATA/SET/text exists.
decode_sets() { _decode_into "" "$@"; }

# stream_sets STAGE MODEL DATA "METHODS" "SETS" "CHUNKS" [OPTION...]
#   decode_sets as streams (`asr decode --streaming --chunk-ms C`), once per chunk size C
#   in ms of CHUNKS, into EXP/decode_SET_METHOD_chunkCms. Nothing when CHUNKS is empty.
stream_sets() {
  local stage_no=$1 model=$2 data_root=$3 methods=$4 sets=$5 chunks=$6 c
  shift 6
  for c in $chunks; do
    _decode_into "_chunk${c}ms" "$stage_no" "$model" "$data_root" "$methods" "$sets" \
      --streaming --chunk-ms "$c" "$@" || return 1
  done
}

_decode_into() {
  local tag=$1 stage_no=$2 model=$3 data_root=$4 methods=$5 sets=$6 exp_dir m s out _opts
  shift 6
  exp_dir=$(dirname "$model")
  for m in $methods; do
    _method_opts "$m" || return 1
    for s in $sets; do
      out=$exp_dir/decode_${s}_$m$tag
      if [ -f "$out/hyp" ] && [ "$out/hyp" -nt "$model" ]; then continue; fi
      echo "stage $stage_no: decoding $s ($m${tag:+, ${tag#_}}) -> $out"
      asr decode --exp-dir "$exp_dir" --data-dir "$data_root/$s" --out "$out" \
        "${_opts[@]}" "$@" || return 1
    done
  done
}

# print_wers EXP "METHODS" "SETS" ["CHUNKS"]: the %WER line of each decode (the first
#   line of EXP/decode_SET_METHOD/wer, as asr decode wrote it) with METHOD and SET
#   appended, then those of the streaming decodes of each chunk size in CHUNKS (ms):
#   %WER 1.23 [ 12 / 975, 3 ins, 4 del, 5 sub ] greedy test
#   %WER 1.50 [ 15 / 975, 3 ins, 5 del, 7 sub ] greedy test chunk320ms
print_wers() {
  local exp_dir=$1 methods=$2 sets=$3 chunks=${4:-} m s c wer line
  for c in "" $chunks; do
    for m in $methods; do
      for s in $sets; do
        wer=$exp_dir/decode_${s}_$m${c:+_chunk${c}ms}/wer
        [ -f "$wer" ] || { echo "$0: no $wer (decode $s with $m first)" >&2; return 1; }
        read -r line < "$wer"
        echo "$line $m $s${c:+ chunk${c}ms}"
      done
    done
  done
}
