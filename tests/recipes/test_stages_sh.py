"""scripts/stages.sh, the stage helpers every recipe's run.sh sources, with a stand-in
`asr` (and `python`, `sbatch`) on PATH that records its command line (the recipe tests run
the real one). Every helper runs in `env -i bash` with nothing but PATH, so a helper that
read a variable its caller did not pass would fail or run another command: the two-sided
stage guard, each helper's command, decodes skipped when newer than the model, and the
%WER lines read back from each decode's wer."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
# each stand-in appends its command line to the log beside its bin/ (no variable needed)
FAKE = """#!/usr/bin/env bash
echo "{name} $*" >> "$(dirname "$0")/../log"
"""
FAKE_ASR = FAKE.format(name="asr") + """\
while [ $# -gt 0 ]; do [ "$1" = --out ] && out=$2; shift; done
[ -n "${out:-}" ] || exit 0
mkdir -p "$out" && echo "u1 ONE" > "$out/hyp"
printf '%%WER 50.00 [ 1 / 2, 0 ins, 1 del, 0 sub ] %s\\nu1 ref ONE TWO\\n' "$out" > "$out/wer"
"""
FAKE_SBATCH = (FAKE.format(name="sbatch")
               + 'echo "ASR_SCRIPTS=$ASR_SCRIPTS" >> "$(dirname "$0")/../log"\n')
# every variable a run.sh sets that an older stages.sh read behind its caller's back
POISON = ("data lang lm lm_order token_type vocab_size speed_perturb dir train_set train_config "
          "train_overrides noise_dir rir_dir init_from beam lm_weight lm_bonus nj launcher "
          "nproc sets methods chunks model exp_dir out text config").split()


def bash(tmp_path: Path, script: str, asr: str = FAKE_ASR) -> subprocess.CompletedProcess:
    """SCRIPT after sourcing stages.sh, in `env -i bash` with errexit and nounset: no
    variable but PATH (the stand-ins first)."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    for name, text in (("asr", asr), ("python", FAKE.format(name="python")),
                       ("sbatch", FAKE_SBATCH)):
        (tmp_path / "bin" / name).write_text(text)
        (tmp_path / "bin" / name).chmod(0o755)
    path = f"{tmp_path / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin"
    return subprocess.run(["env", "-i", f"PATH={path}", "bash", "-c",
                           f"set -euo pipefail\n. {SCRIPTS}/stages.sh\n{script}"],
                          cwd=tmp_path, capture_output=True, text=True)


def log(tmp_path: Path) -> list[str]:
    p = tmp_path / "log"
    return p.read_text().splitlines() if p.exists() else []


TRAIN = ("asr train --config c.yaml --exp-dir exp/m --train-dir data/train_sp --dev-dir "
         "data/dev --lang-dir data/lang")
HELPERS = {  # a helper called with explicit arguments -> the commands it runs
    "feature_stage 2 --data data --train train_sp --sets 'dev test' --speed-perturb 0.9,1.1 "
    "--perturb-from train --nj 2": [
        "asr speed-perturb --factors 0.9,1.1 data/train data/train_sp",
        "asr fbank --nj 2 --config conf/fbank.yaml data/train_sp data/dev data/test",
        "asr cmvn data/train_sp",
        "asr cmvn --per-speaker data/train_sp data/dev data/test"],
    "feature_stage 2 --data d --train train --sets test --speaker-cmvn false --config f.yaml": [
        "asr fbank --config f.yaml d/train d/test", "asr cmvn d/train"],
    "lang_stage 3 --text data/train/text --out data/lang_bpe30 --token-type bpe "
    "--vocab-size 30 --lm data/lm/w.arpa --lm-order 3": [
        "asr tokenizer --text data/train/text --out data/lang_bpe30 --token-type bpe "
        "--vocab-size 30",
        "asr train-lm --text data/train/text --order 3 --out data/lm/w.arpa"],
    "lang_stage 3 --text t --out data/lang --token-type char": [
        "asr tokenizer --text t --out data/lang --token-type char"],
    "rir_stage 2 --out data/rirs --sample-rate 8000": [
        "asr make-rirs data/rirs --sample-rate 8000 --seed 0"],
    "rir_stage 2 --out '' --sample-rate 8000": [],
    "train_stage 4 --config c.yaml --exp-dir exp/m --train-dir data/train_sp --dev-dir data/dev "
    "--lang-dir data/lang --overrides 'train.epochs=2  optim.lr=1'": [
        f"{TRAIN} train.epochs=2 optim.lr=1"],
    "train_stage 4 --config c.yaml --exp-dir exp/m --train-dir data/train_sp --dev-dir data/dev "
    "--lang-dir data/lang --noise /n --rirs data/rirs --init-from exp/b/final.pt": [
        f"{TRAIN} data.augment.noise.source=/n data.augment.reverb.source=data/rirs "
        "train.init_from=exp/b/final.pt"],
    "train_stage 4 --config c.yaml --exp-dir exp/m --train-dir data/train_sp --dev-dir data/dev "
    "--lang-dir data/lang --launcher torchrun --nproc 2": [
        "python -m torch.distributed.run --standalone --nproc-per-node 2 --max-restarts 3 -m "
        + TRAIN],
    "train_stage 4 --config c.yaml --exp-dir exp/m --train-dir data/train_sp --dev-dir data/dev "
    "--lang-dir data/lang --launcher slurm --nproc 4 --overrides x=1": [
        f"sbatch --wait --gpus-per-node 4 {SCRIPTS}/slurm_train.sh "
        + TRAIN.removeprefix("asr train ") + " x=1",
        f"ASR_SCRIPTS={SCRIPTS}"],
    "decode_sets 5 --model exp/final.pt --data data --methods 'greedy prefix_beam_lm' --sets dev "
    "--chunks 320 --beam 4 --lm lm.arpa --lm-bonus 1.0 -- --checkpoint exp/final.pt": [
        f"asr decode --exp-dir exp --data-dir data/dev --out exp/decode_dev_{m}{tag} {opts}"
        f"{stream} --checkpoint exp/final.pt"
        for tag, stream in (("", ""), ("_chunk320ms", " --streaming --chunk-ms 320"))
        for m, opts in (("greedy", "--method greedy"),
                        ("prefix_beam_lm", "--method prefix_beam --beam 4 --lm lm.arpa "
                         "--lm-weight 0.5 --lm-bonus 1.0"))],
}


@pytest.mark.parametrize("call", list(HELPERS))
def test_each_helper_runs_its_command_from_its_arguments_alone(tmp_path, call):
    clean, poisoned = tmp_path / "clean", tmp_path / "poisoned"
    clean.mkdir(), poisoned.mkdir()
    out = bash(clean, call)
    assert out.returncode == 0, out.stderr
    assert log(clean) == HELPERS[call]
    # the caller's variables of the same names as the options (and those an older
    # stages.sh read) change nothing
    out = bash(poisoned, "".join(f"{v}=POISON; " for v in POISON) + "\n" + call)
    assert out.returncode == 0, out.stderr
    assert log(poisoned) == HELPERS[call]


def test_method_opts_prints_the_decode_options_one_a_line(tmp_path):
    out = bash(tmp_path, "method_opts greedy; method_opts prefix_beam\n"
                         "method_opts prefix_beam_lm --lm 'my lm.arpa' --lm-weight 0.3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "--method", "greedy", "--method", "prefix_beam", "--beam", "10",
        "--method", "prefix_beam", "--beam", "10", "--lm", "my lm.arpa", "--lm-weight", "0.3",
        "--lm-bonus", "0.0"]


def test_run_stage_is_two_sided(tmp_path):
    out = bash(tmp_path, "stage=2; stop_stage=4\n"
                         "for n in 1 2 3 4 5; do run_stage $n && echo $n; done; true")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "3", "4"]


def test_stages_skip_what_is_done(tmp_path):
    for f in ("data/train_sp/wav.scp", "data/train_sp/cmvn.ark", "data/train_sp/cmvn.scp",
              "data/dev/cmvn.scp", "data/lang/tokens.txt", "data/lm.arpa", "data/rirs/wav.scp"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("")
    out = bash(tmp_path, "feature_stage 2 --data data --train train_sp --sets 'dev test' "
                         "--speed-perturb 0.9,1.1 --perturb-from train\n"
                         "lang_stage 3 --text t --out data/lang --token-type char "
                         "--lm data/lm.arpa --lm-order 3\n"
                         "rir_stage 2 --out data/rirs --sample-rate 8000\n")
    assert out.returncode == 0, out.stderr
    assert log(tmp_path) == [  # fbank itself skips the sets whose features are complete
        "asr fbank --config conf/fbank.yaml data/train_sp data/dev data/test",
        "asr cmvn --per-speaker data/test"]


def test_decode_sets_skips_decodes_newer_than_the_model_and_prints_wers(tmp_path):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp/final.pt").write_text("")
    os.utime(tmp_path / "exp/final.pt", (1e9, 1e9))  # trained long before any decode
    script = ('decode_sets 5 --model exp/final.pt --data data --methods "greedy prefix_beam_lm" '
              '--sets "dev test" --beam 4 --lm lm.arpa -- --x y\n'
              'print_wers --exp-dir exp --methods "greedy prefix_beam_lm" --sets "dev test"\n')
    out = bash(tmp_path, script)
    assert out.returncode == 0, out.stderr
    decodes = log(tmp_path)
    assert decodes[0] == ("asr decode --exp-dir exp --data-dir data/dev --out "
                          "exp/decode_dev_greedy --method greedy --x y")
    assert decodes[3] == ("asr decode --exp-dir exp --data-dir data/test --out "
                          "exp/decode_test_prefix_beam_lm --method prefix_beam --beam 4 --lm "
                          "lm.arpa --lm-weight 0.5 --lm-bonus 0.0 --x y")
    assert out.stdout.count("stage 5: decoding") == 4
    wers = [line for line in out.stdout.splitlines() if line.startswith("%WER")]
    assert wers == [f"%WER 50.00 [ 1 / 2, 0 ins, 1 del, 0 sub ] exp/decode_{s}_{m} {m} {s}"
                    for m in ("greedy", "prefix_beam_lm") for s in ("dev", "test")]
    # done and newer than the model: kept; a model trained again makes them stale
    again = bash(tmp_path, script)
    assert "decoding" not in again.stdout and len(again.stdout.splitlines()) == 4
    os.utime(tmp_path / "exp/final.pt", (2e9, 2e9))
    assert bash(tmp_path, script).stdout.count("stage 5: decoding") == 4


def test_decode_sets_with_chunks_decodes_each_chunk_size_into_its_own_dir(tmp_path):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp/final.pt").write_text("")
    os.utime(tmp_path / "exp/final.pt", (1e9, 1e9))
    base = "--model exp/final.pt --data data --methods greedy --sets test"
    out = bash(tmp_path, f'decode_sets 5 {base} --chunks "320 160"\n'
                         f'decode_sets 5 {base} --chunks ""\n'
                         'print_wers --exp-dir exp --methods greedy --sets test '
                         '--chunks "320 160"\n')
    assert out.returncode == 0, out.stderr
    assert log(tmp_path) == [
        f"asr decode --exp-dir exp --data-dir data/test --out exp/decode_test_greedy{t} "
        f"--method greedy{o}" for t, o in
        [("", ""), ("_chunk320ms", " --streaming --chunk-ms 320"),
         ("_chunk160ms", " --streaming --chunk-ms 160")]]
    assert "stage 5: decoding test (greedy, chunk320ms)" in out.stdout
    wers = [line.split("] ")[1] for line in out.stdout.splitlines() if line.startswith("%WER")]
    assert wers == ["exp/decode_test_greedy greedy test",
                    "exp/decode_test_greedy_chunk320ms greedy test chunk320ms",
                    "exp/decode_test_greedy_chunk160ms greedy test chunk160ms"]
    missing = bash(tmp_path, 'print_wers --exp-dir exp --methods greedy --sets test --chunks 640')
    assert missing.returncode == 1 and "no exp/decode_test_greedy_chunk640ms/wer" in missing.stderr


@pytest.mark.parametrize("call, message", [
    ("decode_sets 5 --model m.pt --data d --methods beam_search --sets dev",
     "unknown decode method 'beam_search'"),
    ("decode_sets 5 --model m.pt --data d --methods prefix_beam_lm --sets dev",
     "prefix_beam_lm needs an LM (--lm)"),
    ("print_wers --exp-dir exp --methods greedy --sets dev", "no exp/decode_dev_greedy/wer"),
    ("feature_stage 2 --data d --train t --speed-perturb 0.9", "--perturb-from is required"),
    ("feature_stage 2 --data d --train t --speaker-cmvn no", "takes true or false, got 'no'"),
    ("lang_stage 3 --text t --out o", "lang_stage: --token-type is required"),
    ("lang_stage 3 --text t --out o --token-type char --vocab-size", "--vocab-size needs a value"),
    ("rir_stage 2 --out r --rate 8000", "rir_stage: unknown option --rate (it takes: --out "
                                        "--sample-rate)"),
    ("train_stage 4 --config c --exp-dir e --train-dir t --dev-dir d", "--lang-dir is required"),
    ("train_stage 4 --config c --exp-dir e --train-dir t --dev-dir d --lang-dir l --launcher k8s",
     "unknown --launcher 'k8s'"),
    ("print_wers exp greedy dev", "print_wers: unexpected argument 'exp'"),
])
def test_wrong_calls_are_errors_that_say_what_is_wrong(tmp_path, call, message):
    out = bash(tmp_path, call)
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert log(tmp_path) == []  # nothing ran


def test_a_failing_command_stops_the_helper_even_without_errexit(tmp_path):
    """bash ignores `set -e` in a function called as `f && g`: the helper returns itself."""
    out = bash(tmp_path, "feature_stage 2 --data d --train t --sets dev && echo went-on\n"
                         "echo status $?", asr=FAKE.format(name="asr") + "exit 3\n")
    assert out.stdout.splitlines()[-1] == "status 1" and "went-on" not in out.stdout
    assert log(tmp_path) == ["asr fbank --config conf/fbank.yaml d/t d/dev"]


def test_declared_options_stay_options_whatever_the_environment_holds(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text(f"#!/usr/bin/env bash\nset -euo pipefail\ndata=data\nstage=0\n"
                      f". {REPO}/scripts/parse_options.sh\necho \"data=$data stage=$stage\"\n")
    script.chmod(0o755)

    def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(script), *args], env={**os.environ, **env},
                              capture_output=True, text=True)

    # exported in the shell with another value, or with the script's own: still an option
    assert run({"data": "/scratch/x"}, "--data", "D").stdout == "data=D stage=0\n"
    assert run({"stage": "0"}, "--stage", "3").stdout == "data=data stage=3\n"
    # an upper-case environment variable the script never declared is not an option
    out = run({"FSDD_DIR": "/x"}, "--FSDD-DIR", "/y")
    assert out.returncode == 1 and "unknown option --FSDD-DIR" in out.stderr
    # bash's own $_ is not one either (it once showed in --help as "---")
    assert "---" not in run({}, "--help").stdout
