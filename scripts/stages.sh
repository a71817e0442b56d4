#!/usr/bin/env bash
# Stage helpers for recipes/*/run.sh. Source it after scripts/parse_options.sh:
#   . ../../scripts/parse_options.sh
#   . ../../scripts/stages.sh
# (after, so that nothing defined here becomes an option).
#
# Each helper takes everything it uses as arguments: the stage number first (for its log
# lines), then --name VALUE options; an unknown option, or a missing required one, is an
# error. No helper reads or sets a variable of the caller: what one computes comes back on
# stdout (method_opts). The one exception is run_stage, which reads $stage and $stop_stage,
# the two options parse_options.sh's contract gives every run.sh.
#
# A helper returns non-zero at the first command that fails, whether or not errexit is on:
# bash ignores `set -e` inside a function called from `f && g` or `if f`, so every command
# here ends in `|| return 1`. Paths are as the caller gives them (relative ones to its
# working directory, the recipe dir for run.sh).

# the scripts dir (torchrun_train.sh and slurm_train.sh sit beside this file)
_stages_scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# _args FUNC "NAME..." ARG...: each --NAME VALUE of ARG sets the variable NAME (dashes as
#   underscores: --lm-order sets lm_order) that the calling helper declared local (bash's
#   dynamic scope: the caller's globals are never touched); the words after "--" go to the
#   caller's local array _rest. An option not in NAME..., an option without a value or a
#   word that is not an option is an error naming FUNC.
_args() {
  local _a_fn=$1 _a_names=" ${2//$'\n'/ } " _a_var
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --) shift; _rest=("$@"); return 0 ;;
      --?*)
        _a_var=${1#--}; _a_var=${_a_var//-/_}
        if [[ "$_a_names" != *" $_a_var "* ]]; then
          # shellcheck disable=SC2086  # one name a word
          echo "$_a_fn: unknown option $1 (it takes:$(printf ' --%s' ${_a_names//_/-}))" >&2
          return 1
        fi
        [ $# -ge 2 ] || { echo "$_a_fn: option $1 needs a value" >&2; return 1; }
        printf -v "$_a_var" '%s' "$2"
        shift 2 ;;
      *) echo "$_a_fn: unexpected argument '$1' (options are --name VALUE)" >&2; return 1 ;;
    esac
  done
}

# _need FUNC NAME...: an error naming --NAME for the first NAME the caller left empty
_need() {
  local _n_fn=$1 _n_var
  shift
  for _n_var in "$@"; do
    [ -n "${!_n_var}" ] || { echo "$_n_fn: --${_n_var//_/-} is required" >&2; return 1; }
  done
}

# run_stage N: true when $stage <= N <= $stop_stage (Kaldi's two-sided guard). It reads
#   the caller's $stage and $stop_stage: parse_options.sh makes them options of every
#   run.sh, and every run.sh declares them.
# shellcheck disable=SC2154  # run.sh declares both
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

# shard_stage STAGE --data DIR --sets "SET..." --out OUT --shard-size N [--content C]
#   `asr shar DIR/SET OUT/SET --shard-size N` for each SET (after the feature stage: the
#   sets' feats.yaml and cmvn.ark go along), C audio or features (default: features when
#   the set has a feats.scp); train from OUT with data.source=lhotse_shar. A set whose
#   shards are all written costs a check; a killed write resumes.
shard_stage() {
  local stage_no=$1 data='' sets='' out='' shard_size='' content='' _rest=() s
  shift
  _args shard_stage "data sets out shard_size content" "$@" || return 1
  _need shard_stage data sets out shard_size || return 1
  for s in $sets; do
    echo "stage $stage_no: shards of $data/$s in $out/$s"
    asr shar "$data/$s" "$out/$s" --shard-size "$shard_size" ${content:+--content "$content"} \
      || return 1
  done
}

# feature_stage STAGE --data DIR --train SET [--sets "SET..."] [--speed-perturb FACTORS
#               --perturb-from SET] [--nj N] [--config YAML] [--speaker-cmvn true|false]
#   Features of DIR/SET for the training set and each of --sets: first, with FACTORS (e.g.
#   0.9,1.0,1.1), `asr speed-perturb` of DIR/<perturb-from> into DIR/<train> unless that
#   has a wav.scp; then `asr fbank --config YAML` (conf/fbank.yaml) of all of them, with
#   --nj N when given; the global CMVN stats of the training set (`asr cmvn`) unless it has
#   them; with --speaker-cmvn true (the default), per-speaker stats (`asr cmvn
#   --per-speaker`, for data.cmvn: speaker) of every set that has none yet.
feature_stage() {
  local stage_no=$1 data='' train='' sets='' speed_perturb='' perturb_from='' nj='' \
    config=conf/fbank.yaml speaker_cmvn=true _rest=() s fbank dirs=() todo=()
  shift
  _args feature_stage "data train sets speed_perturb perturb_from nj config speaker_cmvn" \
    "$@" || return 1
  _need feature_stage data train config || return 1
  [ -z "$speed_perturb" ] || _need feature_stage perturb_from || return 1
  case $speaker_cmvn in
    true|false) ;;
    *) echo "feature_stage: --speaker-cmvn takes true or false, got '$speaker_cmvn'" >&2
       return 1 ;;
  esac
  fbank="fbank${nj:+ ($nj jobs)}"
  echo "stage $stage_no: features: ${speed_perturb:+speed perturbation, }$fbank, CMVN stats"
  if [ -n "$speed_perturb" ] && [ ! -f "$data/$train/wav.scp" ]; then
    asr speed-perturb --factors "$speed_perturb" "$data/$perturb_from" "$data/$train" \
      || return 1
  fi
  for s in "$train" $sets; do dirs+=("$data/$s"); done
  asr fbank ${nj:+--nj "$nj"} --config "$config" "${dirs[@]}" || return 1
  [ -f "$data/$train/cmvn.ark" ] || asr cmvn "$data/$train" || return 1
  [ "$speaker_cmvn" = true ] || return 0
  for s in "${dirs[@]}"; do [ -f "$s/cmvn.scp" ] || todo+=("$s"); done
  [ ${#todo[@]} -eq 0 ] || asr cmvn --per-speaker "${todo[@]}" || return 1
}

# lang_stage STAGE --text FILE --out DIR --token-type TYPE [--vocab-size N]
#            [--lm ARPA --lm-order K]
#   The TYPE (char, bpe or unigram) token list in DIR from the transcripts FILE (`asr
#   tokenizer`, with --vocab-size N when given) unless DIR/tokens.txt exists; with --lm,
#   a word K-gram LM ARPA from FILE (`asr train-lm`) unless ARPA exists.
lang_stage() {
  local stage_no=$1 text='' out='' token_type='' vocab_size='' lm='' lm_order='' _rest=()
  shift
  _args lang_stage "text out token_type vocab_size lm lm_order" "$@" || return 1
  _need lang_stage text out token_type || return 1
  [ -z "$lm" ] || _need lang_stage lm_order || return 1
  if [ ! -f "$out/tokens.txt" ]; then
    echo "stage $stage_no: $token_type tokens in $out"
    asr tokenizer --text "$text" --out "$out" --token-type "$token_type" \
      ${vocab_size:+--vocab-size "$vocab_size"} || return 1
  fi
  if [ -n "$lm" ] && [ ! -f "$lm" ]; then
    echo "stage $stage_no: word $lm_order-gram LM $lm"
    asr train-lm --text "$text" --order "$lm_order" --out "$lm" || return 1
  fi
}

# rir_stage STAGE --out DIR --sample-rate HZ
#   Simulated room impulse responses at HZ in DIR (`asr make-rirs`, seed 0), the source of
#   data.augment.reverb; nothing when DIR is empty or already has a wav.scp.
rir_stage() {
  local stage_no=$1 out='' sample_rate='' _rest=()
  shift
  _args rir_stage "out sample_rate" "$@" || return 1
  [ -n "$out" ] && [ ! -f "$out/wav.scp" ] || return 0
  _need rir_stage sample_rate || return 1
  echo "stage $stage_no: simulated RIRs in $out"
  asr make-rirs "$out" --sample-rate "$sample_rate" --seed 0 || return 1
}

# train_stage STAGE --config YAML --exp-dir DIR --train-dir DIR --dev-dir DIR --lang-dir DIR
#             [--noise DIR] [--rirs DIR] [--init-from FILE] [--overrides "KEY=VALUE..."]
#             [--launcher local|torchrun|slurm] [--nproc N]
#   `asr train` of YAML into the exp dir. A non-empty --noise, --rirs or --init-from
#   becomes data.augment.noise.source, data.augment.reverb.source or train.init_from (a
#   model file to start from); --overrides are more KEY=VALUE words, split on white space.
#   --launcher local (the default) runs asr train itself; torchrun runs it through
#   scripts/torchrun_train.sh with N ranks (--nproc, default 1); slurm submits
#   scripts/slurm_train.sh with `sbatch --wait --gpus-per-node N`.
train_stage() {
  local stage_no=$1 config='' exp_dir='' train_dir='' dev_dir='' lang_dir='' noise='' \
    rirs='' init_from='' overrides='' launcher=local nproc=1 _rest=() args words
  shift
  _args train_stage "config exp_dir train_dir dev_dir lang_dir noise rirs init_from overrides
    launcher nproc" "$@" || return 1
  _need train_stage config exp_dir train_dir dev_dir lang_dir || return 1
  args=(--config "$config" --exp-dir "$exp_dir" --train-dir "$train_dir" --dev-dir "$dev_dir"
        --lang-dir "$lang_dir")
  [ -z "$noise" ] || args+=("data.augment.noise.source=$noise")
  [ -z "$rirs" ] || args+=("data.augment.reverb.source=$rirs")
  [ -z "$init_from" ] || args+=("train.init_from=$init_from")
  read -r -d '' -a words <<< "$overrides" || true  # split on white space, never globbed
  args+=("${words[@]}")
  case $launcher in
    local)
      echo "stage $stage_no: training $exp_dir"
      asr train "${args[@]}" || return 1 ;;
    torchrun)
      echo "stage $stage_no: training $exp_dir (torchrun, $nproc per node)"
      "$_stages_scripts/torchrun_train.sh" --nproc-per-node "$nproc" -- "${args[@]}" \
        || return 1 ;;
    slurm)
      echo "stage $stage_no: training $exp_dir (slurm, $nproc per node)"
      # sbatch runs a copy of slurm_train.sh from its spool dir: ASR_SCRIPTS (exported to
      # the job, as sbatch exports the environment) tells it where its launcher is
      ASR_SCRIPTS=$_stages_scripts sbatch --wait --gpus-per-node "$nproc" \
        "$_stages_scripts/slurm_train.sh" "${args[@]}" || return 1 ;;
    *) echo "$0: unknown --launcher '$launcher' (local, torchrun or slurm)" >&2; return 1 ;;
  esac
}

# method_opts METHOD [--beam N] [--lm ARPA] [--lm-weight W] [--lm-bonus B]
#   Prints the `asr decode` options of a search method, one a line (read them as
#   decode_sets does: lines=$(method_opts ...) || exit; mapfile -t opts <<< "$lines"): greedy;
#   prefix_beam (--beam N, default 10); prefix_beam_lm (prefix_beam with --lm ARPA,
#   --lm-weight W (0.5) and --lm-bonus B (0.0)). An unknown METHOD, or prefix_beam_lm
#   without an LM, is an error.
method_opts() {
  local method=$1 beam='' lm='' lm_weight='' lm_bonus='' _rest=()
  shift
  _args method_opts "beam lm lm_weight lm_bonus" "$@" || return 1
  case $method in
    greedy) printf '%s\n' --method greedy ;;
    prefix_beam) printf '%s\n' --method prefix_beam --beam "${beam:-10}" ;;
    prefix_beam_lm)
      [ -n "$lm" ] || { echo "$0: decode method prefix_beam_lm needs an LM (--lm)" >&2
                        return 1; }
      printf '%s\n' --method prefix_beam --beam "${beam:-10}" --lm "$lm" \
        --lm-weight "${lm_weight:-0.5}" --lm-bonus "${lm_bonus:-0.0}" ;;
    *) echo "$0: unknown decode method '$method' (greedy, prefix_beam or prefix_beam_lm)" >&2
       return 1 ;;
  esac
}

# decode_sets STAGE --model FILE --data DIR --methods "METHOD..." --sets "SET..."
#             [--chunks "MS..."] [--beam N] [--lm ARPA] [--lm-weight W] [--lm-bonus B]
#             [-- DECODE_OPTION...]
#   For each method (method_opts, which takes --beam, --lm, --lm-weight and --lm-bonus)
#   and set: `asr decode` DIR/SET into EXP/decode_SET_METHOD, where EXP is the dir holding
#   FILE; then the same as streams (`--streaming --chunk-ms C`) once per chunk size C of
#   --chunks, into EXP/decode_SET_METHOD_chunkCms. A decode whose hyp is newer than FILE
#   is kept (done already). DECODE_OPTIONs go to every asr decode (e.g. --checkpoint FILE).
#   asr decode itself writes each decode's wer (%WER line first) when DIR/SET/text exists.
decode_sets() {
  local stage_no=$1 model='' data='' methods='' sets='' chunks='' beam='' lm='' \
    lm_weight='' lm_bonus='' _rest=() exp_dir c m s tag out lines opts
  shift
  _args decode_sets "model data methods sets chunks beam lm lm_weight lm_bonus" "$@" \
    || return 1
  _need decode_sets model data methods sets || return 1
  exp_dir=$(dirname "$model")
  for c in "" $chunks; do
    tag=${c:+_chunk${c}ms}
    for m in $methods; do
      lines=$(method_opts "$m" --beam "$beam" --lm "$lm" --lm-weight "$lm_weight" \
        --lm-bonus "$lm_bonus") || return 1
      mapfile -t opts <<< "$lines"
      [ -z "$c" ] || opts+=(--streaming --chunk-ms "$c")
      for s in $sets; do
        out=$exp_dir/decode_${s}_$m$tag
        if [ -f "$out/hyp" ] && [ "$out/hyp" -nt "$model" ]; then continue; fi
        echo "stage $stage_no: decoding $s ($m${tag:+, ${tag#_}}) -> $out"
        asr decode --exp-dir "$exp_dir" --data-dir "$data/$s" --out "$out" "${opts[@]}" \
          "${_rest[@]}" || return 1
      done
    done
  done
}

# print_wers --exp-dir EXP --methods "METHOD..." --sets "SET..." [--chunks "MS..."]
#   The %WER line of each decode (the first line of EXP/decode_SET_METHOD/wer, as asr
#   decode wrote it) with METHOD and SET appended, then those of the streaming decodes of
#   each chunk size of --chunks:
#   %WER 1.23 [ 12 / 975, 3 ins, 4 del, 5 sub ] greedy test
#   %WER 1.50 [ 15 / 975, 3 ins, 5 del, 7 sub ] greedy test chunk320ms
print_wers() {
  local exp_dir='' methods='' sets='' chunks='' _rest=() m s c wer line
  _args print_wers "exp_dir methods sets chunks" "$@" || return 1
  _need print_wers exp_dir methods sets || return 1
  for c in "" $chunks; do
    for m in $methods; do
      for s in $sets; do
        wer=$exp_dir/decode_${s}_$m${c:+_chunk${c}ms}/wer
        [ -f "$wer" ] || { echo "$0: no $wer (decode $s with $m first)" >&2; return 1; }
        read -r line < "$wer" || [ -n "$line" ] || { echo "$0: $wer is empty" >&2; return 1; }
        echo "$line $m $s${c:+ chunk${c}ms}"
      done
    done
  done
}
