"""'asr decode' of a shard dir: the hypotheses and %WER of the data dir it was made of."""

from __future__ import annotations

import pytest

from asr.cli import main
from asr.config.schema import FbankConfig
from asr.data.features import write_data_dir_feats
from asr.data.shar_write import write_shards
from asr.testing import make_data_dir, make_exp_dir

CFG = FbankConfig(sample_rate=8000, num_mel_bins=23)


def test_shard_dirs_decode_as_their_data_dir(tmp_path, capsys):
    d = tmp_path / "d"
    make_data_dir(d, num_utts=7, max_digits=5)
    exp = make_exp_dir(tmp_path / "exp")
    write_shards(d, tmp_path / "audio", shard_size=3, content="audio")
    write_data_dir_feats(d, CFG)
    write_shards(d, tmp_path / "feats", shard_size=4, content="features")
    outs = {}
    for name, data in (("dir", d), ("audio", tmp_path / "audio"), ("feats", tmp_path / "feats")):
        out = tmp_path / f"dec_{name}"
        assert main(["decode", "--exp-dir", str(exp), "--data-dir", str(data), "--out",
                     str(out)]) == 0
        outs[name] = ((out / "hyp").read_text(), (out / "wer").read_text())
    assert any(line.split()[1:] for line in outs["dir"][0].splitlines())  # words to compare
    assert outs["audio"] == outs["dir"] == outs["feats"]
    capsys.readouterr()
    rc = main(["decode", "--exp-dir", str(exp), "--data-dir", str(tmp_path / "audio"),
               "--out", str(tmp_path / "x"), "--streaming"])
    assert rc == 2 and "is a shard dir" in capsys.readouterr().err


def test_features_of_other_options_are_refused(tmp_path, capsys):
    d = tmp_path / "d"
    make_data_dir(d, num_utts=2)
    write_data_dir_feats(d, FbankConfig(sample_rate=8000, num_mel_bins=40))
    write_shards(d, tmp_path / "s", shard_size=3)
    exp = make_exp_dir(tmp_path / "exp")
    rc = main(["decode", "--exp-dir", str(exp), "--data-dir", str(tmp_path / "s"), "--out",
               str(tmp_path / "o")])
    assert rc == 2 and "other fbank options" in capsys.readouterr().err


@pytest.mark.parametrize("cmvn", ["speaker"])
def test_per_speaker_cmvn_is_refused_on_shards(tmp_path, capsys, cmvn):
    import yaml

    d = tmp_path / "d"
    make_data_dir(d, num_utts=2)
    write_shards(d, tmp_path / "s", shard_size=3, content="audio")
    exp = make_exp_dir(tmp_path / "exp")
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    cfg["data"]["cmvn"] = cmvn
    (exp / "config.yaml").write_text(yaml.safe_dump(cfg))
    rc = main(["decode", "--exp-dir", str(exp), "--data-dir", str(tmp_path / "s"), "--out",
               str(tmp_path / "o")])
    assert rc == 2 and "needs a Kaldi data dir's stats" in capsys.readouterr().err
