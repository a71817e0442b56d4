"""Speed perturbation of a data dir (Kaldi's sp0.9-/sp1.1- copies). On-the-fly
perturbation of training batches: tests/data/test_pipeline.py."""

from asr.data.audio import load_audio
from asr.data.kaldi_dir import DataDir
from asr.data.perturb import perturb_data_dir
from asr.testing import make_data_dir


def test_speed_perturbed_data_dir(tmp_path):
    text = make_data_dir(tmp_path / "d", num_utts=2)
    assert perturb_data_dir(tmp_path / "d", tmp_path / "sp", [0.9, 1.0, 1.1]) == 6
    sp = DataDir.load(tmp_path / "sp")
    utt = sorted(text)[0]
    assert sp.text[f"sp0.9-{utt}"] == sp.text[utt] == text[utt]
    assert sp.utt2spk[f"sp1.1-{utt}"] == "sp1.1-" + sp.utt2spk[utt]
    n = {f: load_audio(sp.wav_scp[f"{p}{utt}"])[0].numel()
         for f, p in ((1.0, ""), (0.9, "sp0.9-"), (1.1, "sp1.1-"))}
    assert abs(n[0.9] - n[1.0] / 0.9) <= 1 and abs(n[1.1] - n[1.0] / 1.1) <= 1
