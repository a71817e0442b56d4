"""StreamingRecognizer: audio in random-size pieces gives the text of the whole audio at
once and of the offline search on the chunk-masked full forward; bad input is an AsrError."""

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from asr.config import save_config
from asr.config.model_schema import (
    ChunkConfig,
    ConformerConfig,
    Conv2dFrontendConfig,
    LSTMConfig,
    ModelConfig,
)
from asr.config.schema import DataConfig, ExperimentConfig
from asr.data.cmvn_stats import data_dir_stats, save_stats
from asr.data.features import audio_fbank, write_data_dir_feats
from asr.data.tokenizer import SPACE, UNK
from asr.decode.recognizer import StreamingRecognizer, decode_recognizer
from asr.decode.search import SearchSpec, make_search
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.exp.layout import CMVN, CONFIG
from asr.functional import ctc_greedy_search, ctc_prefix_beam_search
from asr.lm.arpa import write_arpa
from asr.lm.fusion import build_fusion
from asr.lm.ngram import train_witten_bell
from asr.testing import make_data_dir, make_exp_dir

GLOBAL_CMVN = DataConfig(cmvn="global")
STREAMING_CONFORMER = ModelConfig(
    frontend=Conv2dFrontendConfig(channels=8, output_dim=32),
    encoder=ConformerConfig(d_model=32, num_layers=2, num_heads=2, ff_dim=64, kernel_size=5,
                            causal_conv=True, chunk=ChunkConfig(sizes=(4, 8), left_chunks=2)))


def streaming_exp(root: Path, model: ModelConfig = STREAMING_CONFORMER,
                  data_cfg: DataConfig = GLOBAL_CMVN) -> tuple[Path, Path]:
    """(exp dir with an untrained streaming model and global CMVN (or ``data_cfg``'s), a
    data dir of 3 wavs)."""
    data = root / "data"
    make_data_dir(data, num_utts=3, max_digits=4)
    exp = make_exp_dir(root / "exp", model=model)
    save_config(ExperimentConfig(model=model, data=data_cfg), exp / CONFIG)
    feats = Experiment.load(exp).feats
    write_data_dir_feats(data, feats)
    save_stats(exp / CMVN, data_dir_stats(data))
    return exp, data


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return streaming_exp(tmp_path_factory.mktemp("streaming"))


def wavs(data: Path) -> dict[str, Path]:
    return {line.split()[0]: Path(line.split()[1])
            for line in (data / "wav.scp").read_text().splitlines()}


def offline(exp_dir: Path, wav: Path, chunk_size: int | None, search=ctc_greedy_search) -> str:
    """The offline search on the full forward under the chunk mask (None: the encoder's
    own full forward, for an LSTM)."""
    exp = Experiment.load(exp_dir)
    feats = torch.from_numpy(audio_fbank(str(wav), "u", exp.feats)[0])
    x = exp.normalizer()(feats, "u")
    with torch.no_grad():
        kwargs = {} if chunk_size is None else {"chunk_size": chunk_size}
        lp, lens = exp.load_model()(x[None], torch.tensor([x.shape[0]]), **kwargs)
    return exp.tokenizer.decode(search(lp, lens)[0])


def feed(recognizer: StreamingRecognizer, samples: np.ndarray, seed: int
         ) -> tuple[list[str], str]:
    rng = np.random.default_rng(seed)
    partials, start = [], 0
    while start < samples.size:
        size = int(rng.integers(0, 3000))
        partials.append(recognizer.accept_waveform(samples[start:start + size]))
        start += size
    return partials, recognizer.finalize()


def test_random_pieces_equal_whole_audio_offline_search_and_decode_streaming(setup):
    exp, data = setup
    recognizer = StreamingRecognizer(exp, chunk_ms=320)
    assert recognizer.chunk_size == 8  # 320 ms of 40 ms encoder frames
    decoded = decode_recognizer(StreamingRecognizer(exp, chunk_ms=320), data)
    for i, (utt, wav) in enumerate(wavs(data).items()):
        samples, rate = soundfile.read(wav, dtype="float32")
        partials, final = feed(recognizer, samples, i)
        whole = recognizer.accept_waveform(samples)
        assert recognizer.finalize() == final
        assert final == offline(exp, wav, 8) == decoded.hyps[utt]
        assert whole == partials[-1]  # the same complete chunks, however the audio was cut
        assert final and partials[-1] == final[:len(partials[-1])]  # greedy partials grow
    assert decoded.rtf > 0


def test_tail_padding_is_silence_appended_to_each_utterance(setup):
    """--tail-padding-ms: what a runtime decoding whole chunks only (sherpa-onnx) sees."""
    exp, data = setup
    padded = decode_recognizer(StreamingRecognizer(exp, chunk_ms=320, tail_padding_ms=700),
                               data)
    plain = StreamingRecognizer(exp, chunk_ms=320)
    for i, (utt, wav) in enumerate(wavs(data).items()):
        samples, rate = soundfile.read(wav, dtype="float32")
        silence = np.zeros(int(0.7 * rate), np.float32)
        assert feed(plain, np.concatenate([samples, silence]), 30 + i)[1] == padded.hyps[utt]
    assert padded.audio_seconds == pytest.approx(
        sum(soundfile.info(w).duration for w in wavs(data).values()))
    with_tail = StreamingRecognizer(exp, chunk_ms=320, tail_padding_ms=700)
    with_tail.accept_features(torch.zeros(10, Experiment.load(exp).feats.num_mel_bins))
    with pytest.raises(AsrError, match="tail padding is audio"):
        with_tail.finalize()
    with pytest.raises(AsrError, match=">= 0 ms"):
        StreamingRecognizer(exp, chunk_ms=320, tail_padding_ms=-1)


def test_prefix_beam_with_lm_equals_offline(setup, tmp_path):
    exp, data = setup
    e = Experiment.load(exp)
    lm_model = train_witten_bell([["ONE", "TWO"], ["THREE", "ONE"], ["NINE"]], order=2)
    write_arpa(tmp_path / "lm.arpa", lm_model)
    search = make_search(e, SearchSpec("prefix_beam", beam=6, lm=tmp_path / "lm.arpa",
                                        lm_weight=1.0, lm_bonus=0.5), streaming=True)
    recognizer = StreamingRecognizer(e, chunk_ms=160, search=search)
    fusion = build_fusion(lm_model, e.tokenizer.tokens, weight=1.0, bonus=0.5,
                          word_start=SPACE, unk=UNK)

    def beam(lp, lens):
        return ctc_prefix_beam_search(lp, lens, beam_size=6, lm=fusion)

    for i, wav in enumerate(wavs(data).values()):
        samples, _ = soundfile.read(wav, dtype="float32")
        _, final = feed(recognizer, samples, 10 + i)
        assert final == offline(exp, wav, 4, beam)


def test_online_cmvn_streams_and_restarts_with_each_utterance(tmp_path):
    """A window shorter than the utterances, so the stats slide within each stream."""
    online = DataConfig(cmvn="online", cmvn_window=60, cmvn_prior_frames=20)
    exp, data = streaming_exp(tmp_path, data_cfg=online)
    recognizer = StreamingRecognizer(exp, chunk_ms=160)
    decoded = decode_recognizer(StreamingRecognizer(exp, chunk_ms=160), data)
    finals = []
    for i, (utt, wav) in enumerate(wavs(data).items()):
        samples, _ = soundfile.read(wav, dtype="float32")
        finals.append(feed(recognizer, samples, 20 + i)[1])
        assert finals[-1] == offline(exp, wav, 4) == decoded.hyps[utt] != ""
    global_exp, _ = streaming_exp(tmp_path / "global")
    assert finals != [offline(global_exp, w, 4) for w in wavs(data).values()]


def test_lstm_streams_with_any_chunk(tmp_path):
    model = ModelConfig(frontend=Conv2dFrontendConfig(channels=8, output_dim=32),
                        encoder=LSTMConfig(num_layers=2, hidden_size=24))
    exp, data = streaming_exp(tmp_path, model)
    wav = next(iter(wavs(data).values()))
    samples, _ = soundfile.read(wav, dtype="float32")
    for chunk_ms in (40, 200):
        assert feed(StreamingRecognizer(exp, chunk_ms=chunk_ms), samples, 0)[1] == \
            offline(exp, wav, None) != ""


def test_bad_input_is_a_clear_error(setup, tmp_path):
    exp, _ = setup
    with pytest.raises(AsrError, match="streams chunks of 160, 320 ms"):
        StreamingRecognizer(exp, chunk_ms=200)
    with pytest.raises(AsrError, match="7.5 encoder frames of 40 ms"):
        StreamingRecognizer(exp, chunk_ms=300)
    recognizer = StreamingRecognizer(exp, chunk_ms=320)
    with pytest.raises(AsrError, match="16000 Hz.*expects 8000 Hz"):
        recognizer.accept_waveform(np.zeros(100, np.float32), sample_rate=16000)
    with pytest.raises(AsrError, match="mono float samples"):
        recognizer.accept_waveform(np.zeros((100, 2), np.float32))
    with pytest.raises(AsrError, match=r"samples reach 3000: .*\[-1, 1\]"):
        recognizer.accept_waveform(np.full(100, 3000.0, np.float32))
    offline_exp = make_exp_dir(tmp_path / "bilstm")  # the default BiLSTM
    with pytest.raises(AsrError, match="not a streaming experiment.*BiLSTM"):
        StreamingRecognizer(offline_exp)
    per_utt = make_exp_dir(tmp_path / "utt_cmvn", model=STREAMING_CONFORMER)
    with pytest.raises(AsrError, match="data.cmvn is 'utterance'.*data.cmvn: global or online"):
        StreamingRecognizer(per_utt)


def test_decode_and_transcribe_streaming_commands(setup, tmp_path, capsys):
    from asr.cli import main
    from asr.data.kaldi_dir import read_kv

    exp, data = setup
    out = tmp_path / "decode"
    assert main(["decode", "--exp-dir", str(exp), "--data-dir", str(data), "--out", str(out),
                 "--streaming", "--chunk-ms", "160"]) == 0
    hyps = read_kv(out / "hyp")
    assert (out / "wer").read_text().startswith("%WER")
    wav_files = wavs(data)
    assert hyps == {u: offline(exp, w, 4) for u, w in wav_files.items()}
    capsys.readouterr()
    first = next(iter(wav_files))
    assert main(["transcribe", "--exp-dir", str(exp), "--streaming", "--chunk-ms", "160",
                 str(wav_files[first])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"{wav_files[first]} {hyps[first]}".rstrip()
    partials = [ln for ln in lines[:-1] if " (partial) " in ln]
    assert partials == lines[:-1] and len(set(partials)) == len(partials)
