"""scripts/stages.sh, the stage helpers every recipe's run.sh sources, with a stand-in
`asr` on PATH (the recipe tests run the real one): the two-sided stage guard, decodes
skipped when newer than the model, and the %WER lines read back from each decode's wer."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAKE_ASR = """#!/usr/bin/env bash
echo "asr $*" >> "$ASR_LOG"
while [ $# -gt 0 ]; do [ "$1" = --out ] && out=$2; shift; done
mkdir -p "$out" && echo "u1 ONE" > "$out/hyp"
printf '%%WER 50.00 [ 1 / 2, 0 ins, 1 del, 0 sub ] %s\\nu1 ref ONE TWO\\n' "$out" > "$out/wer"
"""


def bash(tmp_path: Path, script: str) -> subprocess.CompletedProcess:
    (tmp_path / "bin").mkdir(exist_ok=True)
    (tmp_path / "bin/asr").write_text(FAKE_ASR)
    (tmp_path / "bin/asr").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "ASR_LOG": str(tmp_path / "log")}
    return subprocess.run(["bash", "-c", f"set -euo pipefail\n. {REPO}/scripts/stages.sh\n"
                           + script], cwd=tmp_path, env=env, capture_output=True, text=True)


def test_run_stage_is_two_sided(tmp_path):
    out = bash(tmp_path, "stage=2; stop_stage=4\n"
                         "for n in 1 2 3 4 5; do run_stage $n && echo $n; done; true")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "3", "4"]


def test_decode_sets_skips_decodes_newer_than_the_model_and_prints_wers(tmp_path):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp/final.pt").write_text("")
    os.utime(tmp_path / "exp/final.pt", (1e9, 1e9))  # trained long before any decode
    script = ('beam=4; lm=lm.arpa\n'
              'decode_sets 5 exp/final.pt data "greedy prefix_beam_lm" "dev test" --x y\n'
              'print_wers exp "greedy prefix_beam_lm" "dev test"\n')
    out = bash(tmp_path, script)
    assert out.returncode == 0, out.stderr
    log = (tmp_path / "log").read_text().splitlines()
    assert log[0] == ("asr decode --exp-dir exp --data-dir data/dev --out exp/decode_dev_greedy "
                      "--method greedy --x y")
    assert log[3] == ("asr decode --exp-dir exp --data-dir data/test --out "
                      "exp/decode_test_prefix_beam_lm --method prefix_beam --beam 4 --lm lm.arpa "
                      "--lm-weight 0.5 --lm-bonus 0.0 --x y")
    assert out.stdout.count("stage 5: decoding") == 4
    wers = [line for line in out.stdout.splitlines() if line.startswith("%WER")]
    assert wers == [f"%WER 50.00 [ 1 / 2, 0 ins, 1 del, 0 sub ] exp/decode_{s}_{m} {m} {s}"
                    for m in ("greedy", "prefix_beam_lm") for s in ("dev", "test")]
    # done and newer than the model: kept; a model trained again makes them stale
    again = bash(tmp_path, script)
    assert "decoding" not in again.stdout and len(again.stdout.splitlines()) == 4
    os.utime(tmp_path / "exp/final.pt", (2e9, 2e9))
    assert bash(tmp_path, script).stdout.count("stage 5: decoding") == 4


def test_stream_sets_decodes_each_chunk_size_into_its_own_dir_and_prints_it(tmp_path):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp/final.pt").write_text("")
    os.utime(tmp_path / "exp/final.pt", (1e9, 1e9))
    out = bash(tmp_path, 'decode_sets 5 exp/final.pt data greedy test\n'
                         'stream_sets 5 exp/final.pt data greedy test "320 160"\n'
                         'stream_sets 5 exp/final.pt data greedy test ""\n'
                         'print_wers exp greedy test "320 160"\n')
    assert out.returncode == 0, out.stderr
    log = (tmp_path / "log").read_text().splitlines()
    assert log == [f"asr decode --exp-dir exp --data-dir data/test --out exp/decode_test_greedy{t} "
                   f"--method greedy{o}" for t, o in
                   [("", ""), ("_chunk320ms", " --streaming --chunk-ms 320"),
                    ("_chunk160ms", " --streaming --chunk-ms 160")]]
    assert "stage 5: decoding test (greedy, chunk320ms)" in out.stdout
    wers = [line.split("] ")[1] for line in out.stdout.splitlines() if line.startswith("%WER")]
    assert wers == ["exp/decode_test_greedy greedy test",
                    "exp/decode_test_greedy_chunk320ms greedy test chunk320ms",
                    "exp/decode_test_greedy_chunk160ms greedy test chunk160ms"]
    missing = bash(tmp_path, 'print_wers exp greedy test "640"')
    assert missing.returncode == 1 and "no exp/decode_test_greedy_chunk640ms/wer" in missing.stderr


def test_unknown_method_and_missing_wer_are_errors(tmp_path):
    out = bash(tmp_path, "decode_sets 5 exp/final.pt data beam_search dev")
    assert out.returncode == 1 and "unknown decode method 'beam_search'" in out.stderr
    out = bash(tmp_path, "decode_sets 5 exp/final.pt data prefix_beam_lm dev")
    assert out.returncode == 1 and "prefix_beam_lm needs an LM" in out.stderr
    out = bash(tmp_path, "print_wers exp greedy dev")
    assert out.returncode == 1 and "no exp/decode_dev_greedy/wer" in out.stderr


def test_train_stage_passes_sources_and_init_from_and_rir_stage_runs_once(tmp_path):
    base = ('train_config=c.yaml; dir=exp/m; data=data; train_set=train; lang=data/lang\n'
            'train_overrides="train.epochs=2"\n')
    assert bash(tmp_path, base + "train_stage 4").returncode == 0
    assert bash(tmp_path, base + "noise_dir=/n; rir_dir=data/rirs; init_from=exp/b/final.pt\n"
                                 "train_stage 4\nrir_stage 2 8000").returncode == 0
    plain, with_sources, rirs = (tmp_path / "log").read_text().splitlines()
    args = ("asr train --config c.yaml --exp-dir exp/m --train-dir data/train --dev-dir "
            "data/dev --lang-dir data/lang")
    assert plain == f"{args} train.epochs=2"
    assert with_sources == (f"{args} data.augment.noise.source=/n "
                            "data.augment.reverb.source=data/rirs "
                            "train.init_from=exp/b/final.pt train.epochs=2")
    assert rirs == "asr make-rirs data/rirs --sample-rate 8000 --seed 0"
    (tmp_path / "data/rirs").mkdir(parents=True)
    (tmp_path / "data/rirs/wav.scp").write_text("")
    out = bash(tmp_path, "rir_dir=data/rirs; rir_stage 2 8000; rir_dir=; rir_stage 2 8000")
    assert out.returncode == 0 and out.stdout == ""
    assert len((tmp_path / "log").read_text().splitlines()) == 3


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
