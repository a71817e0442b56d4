"""validate-data and fix-data count exactly the defects injected into a fixture dir;
subset, combine and copy keep every file consistent."""

import subprocess
import sys

import numpy as np
import pytest

from asr.data.copy_dirs import combine_data_dirs, copy_data_dir, subset_data_dir
from asr.data.kaldi_dir import DataDir, read_kv, write_kv
from asr.data.tokenizer import load_tokenizer, train_tokenizer
from asr.data.validate import BACKUP, fix_data_dir, validate_data_dir
from asr.errors import DataError
from asr.testing import make_data_dir


def inject_defects(d):
    """One defect of each class; returns the utterance ids of the 8-utterance dir."""
    text = read_kv(d / "text")
    utts = sorted(text)
    lines = []
    for u in utts:
        if u == utts[1]:
            lines.append(f"{u}\n".encode())  # empty transcript
        elif u == utts[2]:
            lines.append(f"{u} ON\xff\n".encode("latin-1"))  # not UTF-8
        elif u == utts[4]:
            lines.append(f"{u} ZERO QQQ\n".encode())  # Q is outside the token list
        else:
            lines.append(f"{u} {text[u]}\n".encode())
        if u == utts[0]:
            lines.append(f"{u} ONE\n".encode())  # duplicate key
    lines.append(b"spk9-ghost ONE TWO\n")  # no audio
    (d / "text").write_bytes(b"".join(lines))
    utt2spk = read_kv(d / "utt2spk")
    del utt2spk[utts[3]]  # no speaker; spk2utt still lists it
    write_kv(d / "utt2spk", utt2spk)
    with open(d / "utt2spk", "a") as f:
        f.write("\n")  # blank line
    wav = (d / "wav.scp").read_text().splitlines()
    wav[5], wav[6] = wav[6], wav[5]  # unsorted
    (d / "wav.scp").write_text("\n".join(wav) + "\n")
    return utts


@pytest.fixture
def broken(tmp_path):
    text = make_data_dir(tmp_path / "d", num_utts=8)
    train_tokenizer(list(text.values()), tmp_path / "lang", "char")
    return tmp_path / "d", inject_defects(tmp_path / "d"), load_tokenizer(tmp_path / "lang")


def test_validate_counts_each_injected_defect(broken):
    d, utts, tok = broken
    report = validate_data_dir(d, tok)
    counts = {k: len(v) for k, v in report.defects.items()}
    assert counts == {"duplicate_key": 1, "empty_transcript": 1, "bad_utf8": 1,
                      "not_in:wav.scp": 1, "not_in:utt2spk": 1, "blank_line": 1,
                      "unsorted": 1, "spk2utt_mismatch": 1, "out_of_vocabulary": 1}
    assert report.defects["not_in:wav.scp"] == ["spk9-ghost"]
    assert report.defects["not_in:utt2spk"] == [utts[3]]
    assert report.defects["out_of_vocabulary"] == [f"{utts[4]}: QQQ"]
    assert report.defects["empty_transcript"] == [f"text:3 {utts[1]}"]
    assert report.num_utts == 5
    assert "duplicate_key: 1 (text:2" in report.format()


def test_fix_keeps_consistent_intersection_and_backs_up(broken):
    d, utts, _ = broken
    original_text = (d / "text").read_bytes()
    dropped = fix_data_dir(d)
    assert dropped == {"unusable_line:text": [utts[1], utts[2]], "not_in:wav.scp": ["spk9-ghost"],
                       "not_in:utt2spk": [utts[3]]}
    assert (d / BACKUP / "text").read_bytes() == original_text
    fixed = DataDir.load(d)
    assert fixed.utt_ids == [utts[0], *utts[4:]]
    assert validate_data_dir(d).defects == {}
    assert fixed.text[utts[0]] != "ONE"  # the first of duplicate lines is kept


def test_cli_validate_and_fix(broken):
    d, utts, _ = broken
    run = [sys.executable, "-m", "asr"]
    out = subprocess.run([*run, "validate-data", str(d), "--tokens", str(d.parent / "lang")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "not_in:utt2spk: 1" in out.stderr
    assert "out_of_vocabulary: 1" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([*run, "fix-data", str(d)], capture_output=True, text=True)
    assert out.returncode == 0 and "dropped 4 utterances" in out.stdout
    assert f"not_in:utt2spk: 1: {utts[3]}" in out.stdout
    out = subprocess.run([*run, "validate-data", str(d)], capture_output=True, text=True)
    assert out.returncode == 0 and "5 utterances, no problems" in out.stdout


def test_subset_copy_combine(tmp_path):
    text = make_data_dir(tmp_path / "d", num_utts=6)
    utts = sorted(text)
    assert subset_data_dir(tmp_path / "d", tmp_path / "first", first=2) == 2
    assert DataDir.load(tmp_path / "first").utt_ids == utts[:2]
    assert subset_data_dir(tmp_path / "d", tmp_path / "spk1", speakers=["spk1"]) == 3
    assert set(read_kv(tmp_path / "spk1" / "spk2utt")) == {"spk1"}
    (tmp_path / "list").write_text(f"{utts[4]}\n{utts[1]}\n")
    assert subset_data_dir(tmp_path / "d", tmp_path / "listed", utt_list=tmp_path / "list") == 2
    assert copy_data_dir(tmp_path / "d", tmp_path / "c", "x-", "x-") == 6
    c = DataDir.load(tmp_path / "c")
    assert c.utt2spk[f"x-{utts[0]}"] == "x-spk0" and c.text[f"x-{utts[0]}"] == text[utts[0]]
    assert combine_data_dirs(tmp_path / "all", [tmp_path / "d", tmp_path / "c"]) == 12
    assert validate_data_dir(tmp_path / "all").defects == {}
    (tmp_path / "d" / "text").write_text(
        (tmp_path / "d" / "text").read_text().replace(text[utts[0]], "NINE NINE"))
    with pytest.raises(DataError, match="key '.*' is also in another source dir"):
        combine_data_dirs(tmp_path / "bad", [tmp_path / "d", tmp_path / "first"])


def test_segments_subset_and_copy_keep_recordings(tmp_path):
    make_data_dir(tmp_path / "src", num_utts=2)
    src = DataDir.load(tmp_path / "src")
    d = tmp_path / "seg"
    d.mkdir()
    recs = sorted(src.wav_scp)
    write_kv(d / "wav.scp", {f"rec{i}": src.wav_scp[r] for i, r in enumerate(recs)})
    write_kv(d / "segments", {"a-1": "rec0 0 0.3", "a-2": "rec0 0.3 -1", "b-1": "rec1 0.1 0.4"})
    write_kv(d / "text", {"a-1": "ONE", "a-2": "TWO", "b-1": "THREE"})
    write_kv(d / "utt2spk", {"a-1": "a", "a-2": "a", "b-1": "b"})
    assert subset_data_dir(d, tmp_path / "sub", speakers=["b"]) == 1
    assert read_kv(tmp_path / "sub" / "wav.scp") == {"rec1": src.wav_scp[recs[1]]}
    copy_data_dir(d, tmp_path / "cp", utt_prefix="sp-")
    cp = DataDir.load(tmp_path / "cp")
    assert cp.segments["sp-a-2"] == ("rec0", 0.3, -1.0) and sorted(cp.wav_scp) == ["rec0", "rec1"]
    write_kv(d / "segments", {"a-1": "rec0 0 0.3", "a-2": "rec7 0.3 -1", "b-1": "rec1 0.4 0.1"})
    report = validate_data_dir(d)
    assert report.count("unknown_recording") == 1 and report.count("bad_segments") == 1


def test_subset_copy_combine_carry_feature_config_and_cmvn_stats(tmp_path):
    """A featurized dir stays trainable after each operation: feats.yaml and cmvn.ark go
    along, combined stats are the sum of the sources', cmvn.scp follows the speakers."""
    from asr.config.schema import FbankConfig
    from asr.data import cmvn_stats
    from asr.data.features import read_feats_config, write_data_dir_feats

    cfg = FbankConfig(sample_rate=8000, num_mel_bins=23)
    d = tmp_path / "d"
    make_data_dir(d, num_utts=4)
    write_data_dir_feats(d, cfg)
    cmvn_stats.save_stats(d / "cmvn.ark", cmvn_stats.data_dir_stats(d))
    cmvn_stats.write_speaker_stats(d)
    stats = cmvn_stats.load_stats(d / "cmvn.ark")
    subset_data_dir(d, tmp_path / "sub", speakers=["spk1"])
    assert read_feats_config(tmp_path / "sub") == cfg
    assert cmvn_stats.load_stats(tmp_path / "sub" / "cmvn.ark").tolist() == stats.tolist()
    assert set(read_kv(tmp_path / "sub" / "cmvn.scp")) == {"spk1"}
    copy_data_dir(d, tmp_path / "cp", "b-", "b-")
    assert read_feats_config(tmp_path / "cp") == cfg
    assert set(cmvn_stats.load_speaker_stats(tmp_path / "cp")) == {"b-spk0", "b-spk1"}
    assert combine_data_dirs(tmp_path / "all", [d, tmp_path / "cp"]) == 8
    assert read_feats_config(tmp_path / "all") == cfg
    assert cmvn_stats.load_stats(tmp_path / "all" / "cmvn.ark").tolist() == (2 * stats).tolist()
    np.testing.assert_allclose(cmvn_stats.data_dir_stats(tmp_path / "all"), 2 * stats, rtol=1e-9)
    assert len(cmvn_stats.load_speaker_stats(tmp_path / "all")) == 4
    (tmp_path / "cp" / "feats.yaml").write_text(
        (tmp_path / "cp" / "feats.yaml").read_text().replace("dither: 0.0", "dither: 1.0"))
    with pytest.raises(DataError, match=r"cp/feats\.yaml and .*d/feats\.yaml differ"):
        combine_data_dirs(tmp_path / "bad", [d, tmp_path / "cp"])
    assert not (tmp_path / "bad").exists()
