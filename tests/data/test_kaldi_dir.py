import pytest

from asr.data.kaldi_dir import DataDir, read_kv, spk2utt_from_utt2spk, write_data_dir
from asr.errors import DataError
from asr.testing import make_data_dir


def test_round_trip(tmp_path):
    text = make_data_dir(tmp_path / "d", num_utts=5)
    d = DataDir.load(tmp_path / "d")
    assert d.text == text
    assert d.utt_ids == sorted(text)
    assert set(d.utt2spk.values()) == {"spk0", "spk1"}
    assert read_kv(tmp_path / "d" / "spk2utt")["spk0"].split() == \
        spk2utt_from_utt2spk(d.utt2spk)["spk0"]


def test_text_names_utterance_missing_from_wav_scp(tmp_path):
    write_data_dir(tmp_path, {"a": "/x/a.wav"}, {"a": "ONE", "b": "TWO"}, {"a": "s", "b": "s"})
    with pytest.raises(DataError, match=r"text:2: utterance 'b' is not in .*wav\.scp"):
        DataDir.load(tmp_path)


def test_empty_transcript_names_file_line_and_utterance(tmp_path):
    (tmp_path / "wav.scp").write_text("a /x/a.wav\nb /x/b.wav\n")
    (tmp_path / "text").write_text("a ONE\nb\n")
    with pytest.raises(DataError, match=r"text:2: utterance 'b' has an empty transcript"):
        DataDir.load(tmp_path)


def test_duplicate_keys_blank_lines_and_bad_utf8(tmp_path):
    (tmp_path / "wav.scp").write_text("a /x/a.wav\na /x/b.wav\n")
    with pytest.raises(DataError, match=r"wav\.scp:2: duplicate key 'a'"):
        DataDir.load(tmp_path)
    (tmp_path / "wav.scp").write_text("a /x/a.wav\n\n")
    with pytest.raises(DataError, match=r"wav\.scp:2: empty line"):
        DataDir.load(tmp_path)
    (tmp_path / "wav.scp").write_text("a /x/a.wav\n")
    (tmp_path / "text").write_bytes(b"a ON\xffE\n")
    with pytest.raises(DataError, match=r"text:1: not valid UTF-8"):
        DataDir.load(tmp_path)


def test_missing_dir_and_missing_scp(tmp_path):
    with pytest.raises(DataError, match="data dir not found"):
        DataDir.load(tmp_path / "nope")
    (tmp_path / "text").write_text("a ONE\n")
    with pytest.raises(DataError, match="neither wav.scp nor feats.scp"):
        DataDir.load(tmp_path)
