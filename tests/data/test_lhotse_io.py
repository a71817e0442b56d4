"""Kaldi data dir -> lhotse manifests -> Kaldi data dir keeps ids, durations, texts and
speakers; cuts give the same features as the Kaldi path."""

import kaldiio
import numpy as np
import pytest

from asr.config.schema import FbankConfig
from asr.data.dataset import FeatsDataset
from asr.data.features import write_data_dir_feats
from asr.data.kaldi_dir import DataDir, write_kv
from asr.data.lhotse_io import CutFeatures, export_manifests, import_data_dir, load_cut_utterances
from asr.data.tokenizer import load_tokenizer, train_tokenizer
from asr.errors import DataError
from asr.testing import make_data_dir

CFG = FbankConfig(sample_rate=8000, num_mel_bins=23)


def test_round_trip_plain_dir(tmp_path):
    text = make_data_dir(tmp_path / "d", num_utts=5)
    write_data_dir_feats(tmp_path / "d", CFG)
    assert import_data_dir(tmp_path / "d", tmp_path / "m") == 5
    assert export_manifests(tmp_path / "m", tmp_path / "back") == 5
    a, b = DataDir.load(tmp_path / "d"), DataDir.load(tmp_path / "back")
    assert b.utt_ids == a.utt_ids and b.text == a.text == text and b.utt2spk == a.utt2spk
    assert b.utt2dur == a.utt2dur and b.wav_scp == a.wav_scp and b.segments is None


def test_round_trip_segments(tmp_path):
    make_data_dir(tmp_path / "src", num_utts=1)
    wav = DataDir.load(tmp_path / "src").wav_scp
    d = tmp_path / "d"
    d.mkdir()
    write_kv(d / "wav.scp", {"rec": next(iter(wav.values()))})
    write_kv(d / "segments", {"s-1": "rec 0 0.25", "s-2": "rec 0.25 -1"})
    write_kv(d / "text", {"s-1": "ONE", "s-2": "TWO THREE"})
    write_kv(d / "utt2spk", {"s-1": "s", "s-2": "s"})
    import_data_dir(d, tmp_path / "m")
    export_manifests(tmp_path / "m", tmp_path / "back")
    b = DataDir.load(tmp_path / "back")
    assert b.text == {"s-1": "ONE", "s-2": "TWO THREE"} and b.utt2spk == {"s-1": "s", "s-2": "s"}
    total = len(__import__("soundfile").read(next(iter(wav.values())))[0]) / 8000
    assert b.segments["s-1"] == ("rec", 0.0, 0.25)
    assert b.segments["s-2"] == ("rec", 0.25, pytest.approx(total))
    assert b.utt2dur == {"s-1": 0.25, "s-2": pytest.approx(total - 0.25)}


def test_cuts_give_the_kaldi_features(tmp_path):
    text = make_data_dir(tmp_path / "d", num_utts=3)
    write_data_dir_feats(tmp_path / "d", CFG)
    train_tokenizer(list(text.values()), tmp_path / "lang", "char")
    tok = load_tokenizer(tmp_path / "lang")
    import_data_dir(tmp_path / "d", tmp_path / "m")
    d = DataDir.load(tmp_path / "d")
    for from_audio in (False, True):
        utts, cuts = load_cut_utterances(tmp_path / "m", tok, CFG, from_audio)
        assert [u.utt_id for u in utts] == d.utt_ids
        assert [u.num_frames for u in utts] == [d.utt2num_frames[u] for u in d.utt_ids]
        ds = FeatsDataset(utts, lambda x, u: x, source=CutFeatures(cuts, CFG, from_audio))
        for i, utt in enumerate(d.utt_ids):
            np.testing.assert_array_equal(ds[i][1].numpy(), kaldiio.load_mat(d.feats_scp[utt]))
    with pytest.raises(DataError, match="features made with other options"):
        load_cut_utterances(tmp_path / "m", tok, FbankConfig(sample_rate=8000), False)
