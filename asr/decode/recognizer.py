"""Streaming recognition with an experiment: audio in pieces of any size in, the partial
text after each piece, the final text at the end of the utterance.

Pipeline per piece: streaming fbank (frames equal the whole utterance's) -> global or
online CMVN -> the model chunk by chunk with its caches (log-probs equal the full forward under the
same chunk mask) -> a search that keeps its beam between chunks (its final result equals
the offline search on the same log-probs). So a stream ends with what ``asr decode
--streaming`` gives on the same audio, however the audio was cut into pieces.

Only global and online CMVN stream: per-speaker or per-utterance statistics are means
over audio that has not arrived yet (the utterance's, or the speaker's whole set), so the
first frames could not be normalized until the end. Train streaming models with
``data.cmvn: global`` (the training set's stats, in the exp dir) or ``online`` (Kaldi's
online CMVN: the stats of the utterance's past frames, the training set's standing in
for the first seconds), which adapts to a new speaker or channel as it goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from asr.data.audio import resample
from asr.data.cmvn import Normalizer, OnlineCmvn
from asr.data.kaldi_dir import DataDir
from asr.data.streaming_fbank import StreamingFbank
from asr.decode.data_dir import DecodeResult, feature_reader
from asr.decode.defaults import DEFAULT_CHUNK_MS
from asr.decode.hypothesis import Hypothesis
from asr.decode.search import StreamingSearch
from asr.decode.silence_cuts import SilenceCuts, data_dir_audio, on_audio_clock
from asr.decode.timing import TimingSpec
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.exp.layout import CMVN
from asr.functional.ctc_streaming_search import StreamingGreedySearch
from asr.nn.chunked_ctc import ChunkedCTC, streamable_chunk_sizes
from asr.nn.encoder import NotStreamableError
from asr.nn.model import CTCModel


def chunk_frames(exp: Experiment, model: CTCModel, chunk_ms: float) -> int:
    """Encoder frames per chunk of ``chunk_ms``; an AsrError naming the exp when the
    model cannot stream or was not trained for that chunk size."""
    try:
        sizes = streamable_chunk_sizes(model)
    except NotStreamableError as e:
        raise AsrError(f"{exp.path}: not a streaming experiment: {e}") from None
    frame_ms = exp.feats.frame_shift_ms * model.frontend.time_window()[1]
    frames = chunk_ms / frame_ms
    trained = (f"any size that is a whole number of {frame_ms:g} ms encoder frames (a "
               "unidirectional lstm)") if sizes is None else \
        ", ".join(f"{s * frame_ms:g}" for s in sizes) + " ms"
    if frames < 1 or abs(frames - round(frames)) > 1e-6 \
            or sizes is not None and round(frames) not in sizes:
        raise AsrError(f"{exp.path}: --chunk-ms {chunk_ms:g} is {frames:g} encoder frames of "
                       f"{frame_ms:g} ms; the model streams chunks of {trained}")
    return int(round(frames))


def streaming_cmvn(exp: Experiment) -> Normalizer | None:
    """The exp's causal CMVN: global, online (running stats of the utterance so far) or
    none; speaker and utterance CMVN are refused (module docstring)."""
    cmvn = exp.config.data.cmvn
    if cmvn == "none":
        return None
    if cmvn not in ("global", "online"):
        raise AsrError(f"{exp.path}: data.cmvn is '{cmvn}', which needs the whole utterance "
                       "or speaker before the first frame; streaming needs data.cmvn: global "
                       "or online")
    if not (exp.path / CMVN).is_file():
        raise AsrError(f"{exp.path}/{CMVN} is missing (global CMVN stats; run 'asr cmvn')")
    return exp.normalizer()  # a GlobalCmvn or OnlineCmvn


def streaming_normalizer(exp: Experiment) -> Callable[[], Callable[[torch.Tensor], torch.Tensor]]:
    """A maker of one utterance's causal normalizer (frames (C, D) in, chunk after chunk)
    for :func:`streaming_cmvn`'s CMVN."""
    norm = streaming_cmvn(exp)
    if norm is None:
        return lambda: lambda x: x
    if isinstance(norm, OnlineCmvn):
        return norm.stream
    return lambda: lambda x: norm(x, "")


class StreamingRecognizer:
    """``accept_waveform(samples) -> partial text``, ``finalize() -> final text``.

    ``samples``: a float32 numpy array (S,) in [-1, 1] (as ``soundfile.read(...,
    dtype="float32")`` gives) at the exp's sample rate, in pieces of any length; a
    finalized recognizer starts the next utterance. ``chunk_ms`` must be a chunk size the
    model was trained for (``encoder.chunk.sizes`` times the encoder frame: 40 ms for x4
    subsampling of 10 ms frames); a unidirectional LSTM takes any multiple of its frame.
    ``nbest`` > 1 (a prefix beam search) and ``times`` (word times and confidences: the
    utterance's log-probs are kept to align the result at its end) fill
    :meth:`finalize_hypothesis`'s n-best list and times.
    """

    def __init__(self, exp_dir: str | Path | Experiment, chunk_ms: float = DEFAULT_CHUNK_MS,
                 checkpoint: str | None = None, search: StreamingSearch | None = None,
                 device: str = "cpu", nbest: int = 1, times: TimingSpec | None = None,
                 tail_padding_ms: float = 0.0):
        if tail_padding_ms < 0:
            raise AsrError(f"tail padding must be >= 0 ms, got {tail_padding_ms:g}")
        self.tail_padding_ms = tail_padding_ms
        self.fed_features = False  # accept_features called directly: no audio to pad
        self.exp = exp_dir if isinstance(exp_dir, Experiment) else Experiment.load(exp_dir)
        model = self.exp.load_model(checkpoint, device)
        self.nbest = nbest
        self.timer = times.timer(self.exp, model) if times is not None else None
        self.log_probs: list[torch.Tensor] = []  # the utterance's, kept for its times
        self.feats: list[torch.Tensor] = []
        self.chunk_ms, self.chunk_size = chunk_ms, chunk_frames(self.exp, model, chunk_ms)
        self.new_normalizer = streaming_normalizer(self.exp)
        self.normalize = self.new_normalizer()
        try:
            self.fbank = StreamingFbank(self.exp.feats)
        except ValueError as e:
            raise AsrError(f"{self.exp.path}: {e}") from None
        self.model = ChunkedCTC(model, self.chunk_size)
        self.search = search if search is not None else StreamingGreedySearch()
        self.sample_rate = self.exp.feats.sample_rate
        self.ids: list[int] = []

    def accept_waveform(self, samples: np.ndarray, sample_rate: int | None = None) -> str:
        """The next piece of audio (S,) -> the text recognized so far (``sample_rate``, when
        given, is checked against the exp's)."""
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise AsrError(f"audio at {sample_rate} Hz, but {self.exp.path} expects "
                           f"{self.sample_rate} Hz (resample it first)")
        x = np.asarray(samples)
        if x.ndim != 1 or not np.issubdtype(x.dtype, np.floating):
            raise AsrError(f"accept_waveform takes mono float samples (S,), got {x.dtype} "
                           f"of shape {x.shape}")
        # 2, not 1: float audio may overshoot [-1, 1] a little; int16-scale audio is far above
        peak = float(np.abs(x).max()) if x.size else 0.0
        if peak > 2.0:
            raise AsrError(f"samples reach {peak:g}: accept_waveform takes floats in [-1, 1] "
                           "(divide int16 samples by 32768)")
        # Kaldi's fbank expects int16-scale values, as asr.data.audio.load_audio gives
        feats = self.fbank.accept(torch.from_numpy(x.astype(np.float32)) * 32768.0)
        return self._accept(feats)

    def accept_features(self, feats: torch.Tensor) -> str:
        """The next raw (unnormalized) fbank frames (T, D) -> the text so far."""
        self.fed_features = True
        return self._accept(feats)

    def _accept(self, feats: torch.Tensor) -> str:
        if self.timer is not None:
            self.feats.append(feats)
        log_probs = self.model.accept(self.normalize(feats))
        if log_probs.shape[0]:
            self.ids = self.search.accept(log_probs)
            if self.timer is not None:
                self.log_probs.append(log_probs.detach().float().cpu())
        return self.exp.tokenizer.decode(self.ids)

    def finalize(self) -> str:
        """The final text of the utterance; the recognizer is ready for the next one."""
        return self.exp.tokenizer.decode(self.finalize_hypothesis().ids)

    def finalize_hypothesis(self) -> Hypothesis:
        """The utterance's final :class:`Hypothesis` (n-best and times as asked for); the
        recognizer is ready for the next one. With ``tail_padding_ms``, that much digital
        silence is fed first, as runtimes that decode whole chunks only end a stream
        (sherpa-onnx's ``tail_padding_s``): the last chunk then attends to those frames."""
        if self.tail_padding_ms > 0:
            if self.fed_features:
                raise AsrError("tail padding is audio: feed the utterance with "
                               "accept_waveform, not accept_features")
            self.accept_waveform(np.zeros(int(round(self.sample_rate * self.tail_padding_ms
                                                    / 1000)), np.float32))
        rest = self.model.finalize()
        if rest.shape[0]:
            self.search.accept(rest)
            if self.timer is not None:
                self.log_probs.append(rest.detach().float().cpu())
        hyp = Hypothesis.of(self.search.finalize_nbest(self.nbest)) if self.nbest > 1 \
            else Hypothesis(self.search.finalize())
        if self.timer is not None:
            lp = torch.cat(self.log_probs) if self.log_probs else \
                torch.zeros(0, len(self.exp.tokenizer.tokens))
            feats = torch.cat(self.feats) if self.feats else None
            hyp.timed = self.timer(lp, hyp.ids, feats)
            kept = self.fbank.kept_frames()  # fed audio whose digital silence was cut
            if kept is not None:
                hyp.timed = on_audio_clock(hyp.timed, kept.numpy(), self.exp.feats)
        self.fbank.reset()
        self.normalize = self.new_normalizer()
        self.ids, self.log_probs, self.feats = [], [], []
        self.fed_features = False
        return hyp


def decode_recognizer(recognizer: StreamingRecognizer, data_dir: Path,
                      allow_resample: bool = False, allow_pipes: bool = True,
                      from_audio: bool = False) -> DecodeResult:
    """Every utterance of a data dir through ``recognizer``, one after the other, its
    fbank frames (from feats.scp, or computed from the audio) fed one chunk's worth at a
    time; streaming fbank gives the same frames from audio pieces (tests hold both). With
    the recognizer's tail padding, each utterance's audio is fed instead, one chunk's worth
    of samples at a time, then the padding."""
    exp = recognizer.exp
    d = DataDir.load(data_dir, allow_pipes)
    if recognizer.tail_padding_ms > 0:
        return _decode_audio(recognizer, d, allow_resample, allow_pipes)
    utt_ids, read = feature_reader(exp, data_dir, allow_resample, None, allow_pipes, d,
                                   from_audio=from_audio)
    cuts = SilenceCuts(exp.feats, data_dir_audio(d, allow_pipes), allow_resample,
                       active=recognizer.timer is not None)
    read = cuts.watch(read)
    step = max(1, int(round(recognizer.chunk_ms / exp.feats.frame_shift_ms)))
    found, frames, t0 = {}, 0, time.time()
    for utt in utt_ids:
        feats = torch.from_numpy(np.asarray(read(utt), np.float32))
        for start in range(0, feats.shape[0], step):
            recognizer.accept_features(feats[start:start + step])
        found[utt] = recognizer.finalize_hypothesis()
        cuts.restore(utt, found[utt])
        frames += feats.shape[0]
    return DecodeResult.of(found, exp.tokenizer, frames * exp.feats.frame_shift_ms / 1000,
                           time.time() - t0)


def _decode_audio(recognizer: StreamingRecognizer, d: DataDir, allow_resample: bool,
                  allow_pipes: bool) -> DecodeResult:
    """Every utterance of ``d`` from its audio (wav.scp, at the exp's rate), fed in
    pieces of one chunk."""
    load = data_dir_audio(d, allow_pipes)
    if load is None:
        raise AsrError(f"{d.path}: tail padding feeds audio, and the dir has no wav.scp")
    rate = recognizer.sample_rate
    step = max(1, int(rate * recognizer.chunk_ms / 1000))
    found, seconds, t0 = {}, 0.0, time.time()
    for utt in d.utt_ids:
        samples, sr = load(utt)
        if sr != rate:
            if not allow_resample:
                raise AsrError(f"{utt}: audio at {sr} Hz, the exp expects {rate} Hz "
                               "(--allow-resample resamples it)")
            samples = resample(samples, sr, rate)
        audio = (samples / 32768.0).numpy()  # load_audio gives int16 scale
        try:
            for start in range(0, audio.size, step):
                recognizer.accept_waveform(audio[start:start + step])
            found[utt] = recognizer.finalize_hypothesis()
        except AsrError as e:
            raise AsrError(f"{utt}: {e}") from None
        seconds += audio.size / rate
    return DecodeResult.of(found, recognizer.exp.tokenizer, seconds, time.time() - t0)
