"""Batched decoding of a data dir with an experiment's model.

Features come from the data dir's feats.scp when present (checked against the exp's
feature config), otherwise they are computed from wav.scp with the exp's own config.
The dir streams through the model in length-sorted batches, one batch of features in
memory at a time, so hours of audio decode in the memory of one batch.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Protocol

import kaldiio
import numpy as np
import torch

from asr.data.ark import read_matrix
from asr.data.cmvn import Normalizer
from asr.data.features import FEATS_CONFIG, read_feats_config, utterance_features
from asr.data.kaldi_dir import DataDir
from asr.data.tokenizer import Tokenizer
from asr.decode.batches import estimated_frames, plan_batches
from asr.decode.defaults import DEFAULT_MAX_FRAMES
from asr.decode.hypothesis import Hypothesis
from asr.decode.long_forward import batch_log_probs
from asr.decode.search import NbestSearch, Search
from asr.decode.silence_cuts import SilenceCuts, data_dir_audio
from asr.decode.timing import HypothesisTimer, Timed, TimingSpec
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.functional.ctc_search import ctc_greedy_search
from asr.nn.model import CTCModel

log = logging.getLogger(__name__)


@dataclass
class StageSeconds:
    """Where a decode's time went: reading (and computing) features and normalizing them,
    the model, and the search."""

    read: float = 0.0
    model: float = 0.0
    search: float = 0.0


@dataclass
class DecodeResult:
    hyps: dict[str, str]
    audio_seconds: float
    decode_seconds: float
    stages: StageSeconds | None = None
    errors: dict[str, str] = field(default_factory=dict)  # input -> why it has no hyp
    hypotheses: dict[str, Hypothesis] = field(default_factory=dict)  # ids, n-best, times

    @classmethod
    def of(cls, hypotheses: dict[str, Hypothesis], tokenizer: Tokenizer, audio_seconds: float,
           decode_seconds: float, stages: StageSeconds | None = None,
           errors: dict[str, str] | None = None) -> DecodeResult:
        """The result of ``hypotheses`` (in output order), their texts spelled by
        ``tokenizer``."""
        return cls({u: tokenizer.decode(h.ids) for u, h in hypotheses.items()}, audio_seconds,
                   decode_seconds, stages, errors or {}, hypotheses)

    @property
    def rtf(self) -> float:
        return self.decode_seconds / max(1e-9, self.audio_seconds)


def feature_reader(exp: Experiment, data_dir: Path, allow_resample: bool,
                   fds: dict | None = None, allow_pipes: bool = True, d: DataDir | None = None,
                   from_audio: bool = False) -> tuple[list[str], Callable[[str], np.ndarray]]:
    """Utterance ids of ``data_dir`` (loaded as ``d`` when given) and a function returning
    each one's raw features; ``fds`` keeps the arks open between reads (the caller closes
    them). ``from_audio``: compute them from wav.scp even when the dir has a feats.scp."""
    d = DataDir.load(data_dir, allow_pipes) if d is None else d
    if from_audio:
        d = d.audio_only()
    if d.feats_scp is not None and (Path(data_dir) / FEATS_CONFIG).is_file() \
            and read_feats_config(data_dir) != exp.feats:
        raise AsrError(f"{data_dir}/feats.scp was made with other fbank options than "
                       f"{exp.path}/{FEATS_CONFIG}: add --features-from-audio to compute "
                       "the exp's features from wav.scp instead (the dir is left as it is)")
    return d.utt_ids, utterance_features(d, exp.feats, allow_resample, fds, allow_short=True)


class SearchStep:
    """What :func:`decode_batches` does with a batch's log-probs: ``search`` them, and with
    a ``timer`` give the results times and confidences."""

    def __init__(self, search: Search | NbestSearch, timer: HypothesisTimer | None = None):
        self.search, self.timer = search, timer

    def __call__(self, utts: list[str], log_probs: torch.Tensor, lengths: torch.Tensor,
                 feats: list[np.ndarray]) -> list[Hypothesis]:
        """Log-probs (N, T, V) and lengths (N,) of the utterances ``utts``, and their raw
        fbank frames (T_in, D) (for the word times)."""
        hyps = [Hypothesis.of(r) for r in self.search(log_probs, lengths)]
        if self.timer is not None:
            lp = log_probs.float().cpu()
            for b, h in enumerate(hyps):
                h.timed = self.timer(lp[b, :int(lengths[b])], h.ids, feats[b])
        return hyps

    def empty(self, utt: str) -> Hypothesis:
        """The result for an utterance too short for one model output frame."""
        return Hypothesis([], timed=Timed([], [], 0.0) if self.timer is not None else None)


class BatchStep(Protocol):
    """A :class:`SearchStep` or anything else made of a batch's log-probs (an aligner)."""

    def __call__(self, utts: list[str], log_probs: torch.Tensor, lengths: torch.Tensor,
                 feats: list[np.ndarray]) -> list[Hypothesis]: ...

    def empty(self, utt: str) -> Hypothesis: ...


@torch.no_grad()
def decode_batches(model: CTCModel, batches: Iterable[list[str]],
                   read: Callable[[str], np.ndarray], normalize: Normalizer,
                   step: BatchStep, device: str = "cpu",
                   seconds: StageSeconds | None = None) -> Iterator[tuple[str, Hypothesis, int]]:
    """(utterance, hypothesis, feature frames) for every utterance of ``batches``, batch
    after batch: a batch's features are read when it is decoded and dropped after, so
    memory holds one batch (T, D) matrices and its (N, T', V) log-probs whatever the data
    size. ``step`` makes the hypotheses of a batch's log-probs (a :class:`SearchStep`).
    ``seconds`` accumulates the time per stage."""
    seconds = seconds if seconds is not None else StageSeconds()
    for batch in batches:
        t0 = time.perf_counter()
        raw = [(u, np.asarray(read(u), np.float32)) for u in batch]
        # audio too short for one model output frame has nothing to recognize
        for u, m in raw:
            if model.output_length(m.shape[0]) < 1:
                log.warning("utterance '%s': %d feature frames give the model no output "
                            "frame: empty hypothesis", u, m.shape[0])
                yield u, step.empty(u), m.shape[0]
        raw = [(u, m) for u, m in raw if model.output_length(m.shape[0]) >= 1]
        if not raw:
            continue
        batch = [u for u, _ in raw]
        xs = [normalize(torch.from_numpy(m), u) for u, m in raw]
        t1 = time.perf_counter()
        log_probs, out_lens = batch_log_probs(model, xs, device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()  # the model's time, not the search's
        t2 = time.perf_counter()
        hyps = step(batch, log_probs, out_lens, [m for _, m in raw])
        t3 = time.perf_counter()
        seconds.read += t1 - t0
        seconds.model += t2 - t1
        seconds.search += t3 - t2
        yield from zip(batch, hyps, (f.shape[0] for f in xs), strict=True)


def decode_features(model: CTCModel, feats: dict[str, torch.Tensor], normalize: Normalizer,
                    search: Search, max_frames: int = DEFAULT_MAX_FRAMES, device: str = "cpu"
                    ) -> dict[str, list[int]]:
    """Token ids per utterance of in-memory features, in length-sorted batches of at
    most ``max_frames`` padded frames (see :func:`asr.decode.batches.plan_batches`)."""
    batches = plan_batches(list(feats), {u: f.shape[0] for u, f in feats.items()}, max_frames)
    return {u: h.ids for u, h, _ in decode_batches(model, batches, lambda u: feats[u],
                                                    normalize, SearchStep(search), device)}


def _in_order_batches(utt_ids: list[str], read: Callable[[str], np.ndarray], max_frames: int,
                      seconds: StageSeconds
                      ) -> tuple[Iterator[list[str]], Callable[[str], np.ndarray]]:
    """Batches in data-dir order, and their reader, for a dir whose lengths are unknown
    before reading: each utterance is read as its batch fills (that read counts as
    feature time) and kept until the batch is decoded, so one batch is held."""
    pending: dict[str, np.ndarray] = {}

    def batches() -> Iterator[list[str]]:
        batch: list[str] = []
        longest = 0
        for u in utt_ids:
            t0 = time.perf_counter()
            pending[u] = read(u)
            seconds.read += time.perf_counter() - t0
            n = pending[u].shape[0]
            if batch and max(longest, n) * (len(batch) + 1) > max_frames:
                yield batch
                batch, longest = [], 0
            batch.append(u)
            longest = max(longest, n)
        if batch:
            yield batch

    return batches(), pending.pop


def _speaker_stats_pass(data_dir: Path, utt_ids: list[str], read: Callable[[str], np.ndarray],
                        spool: IO[bytes] | None, offsets: dict[str, int]
                        ) -> Iterator[tuple[str, np.ndarray]]:
    """Every utterance's features for CMVN stats, one at a time; read only if the
    normalizer asks (per-speaker CMVN without a cmvn.scp), which the log says. With a
    ``spool`` (features computed from audio), each matrix is also appended to it and its
    offset kept, so the decode pass reads it back instead of computing it again."""
    speakers = ("per-speaker" if (Path(data_dir) / "utt2spk").is_file() else
                "per-utterance (no utt2spk: each utterance is its own speaker)")
    log.info("%s has no cmvn.scp: a first pass over its features accumulates %s CMVN stats "
             "(after 'asr fbank', 'asr cmvn --per-speaker %s' saves that pass)",
             data_dir, speakers, data_dir)
    for u in utt_ids:
        mat = read(u)
        if spool is not None:
            start = spool.tell()
            kaldiio.save_ark(spool, {u: mat})
            offsets[u] = start + len(u.encode()) + 1  # past "<key> " to the matrix header
        yield u, mat


def _read_spooled(ark: str, offsets: dict[str, int], fds: dict, utt_id: str) -> np.ndarray:
    return read_matrix(utt_id, f"{ark}:{offsets[utt_id]}", fds)


def decode_data_dir(exp: Experiment, data_dir: Path, checkpoint: str | None = None,
                    search: Search | NbestSearch = ctc_greedy_search,
                    max_frames: int = DEFAULT_MAX_FRAMES, device: str = "cpu",
                    allow_resample: bool = False, allow_pipes: bool = True,
                    from_audio: bool = False, times: TimingSpec | None = None,
                    step: Callable[[CTCModel], BatchStep] | None = None) -> DecodeResult:
    """Decode every utterance of a Kaldi data dir (features and CMVN as the exp says),
    streaming: batches are planned from the utterances' lengths (utt2num_frames,
    segments, utt2dur or audio headers) and read one at a time, so memory does not grow
    with the data dir. Without ``allow_pipes`` a data dir with ``cmd |`` entries is
    refused before reading. ``from_audio``: features from wav.scp even where the dir has
    a feats.scp (made with other options, say). ``times`` adds the words' times and
    confidences to ``hypotheses``. ``step``, given, makes the batch step from the loaded
    model in place of ``search`` (``asr align``'s aligner)."""
    fds: dict = {}
    d = DataDir.load(data_dir, allow_pipes)
    if from_audio:
        d = d.audio_only()
    utt_ids, read = feature_reader(exp, data_dir, allow_resample, fds, allow_pipes, d)
    model = exp.load_model(checkpoint, device)
    if step is None:
        timer = times.timer(exp, model) if times is not None else None
        batch_step: BatchStep = SearchStep(search, timer)
    else:
        batch_step = step(model)
    t0 = time.time()
    seconds = StageSeconds()
    # features from audio that a stats pass computes are spooled to a temp ark (float32,
    # bit-exact) for the decode pass: disk for a second fbank of the whole dir
    spool = tempfile.NamedTemporaryFile(suffix=".ark") if d.feats_scp is None else None
    offsets: dict[str, int] = {}
    try:
        normalize = exp.normalizer(
            data_dir, _speaker_stats_pass(data_dir, utt_ids, read, spool, offsets))
        if spool is not None and len(offsets) == len(utt_ids):
            spool.flush()
            read = partial(_read_spooled, spool.name, offsets, fds)
        seconds.read = time.time() - t0
        cuts = SilenceCuts(exp.feats, data_dir_audio(d, allow_pipes), allow_resample,
                           active=times is not None or step is not None)  # the times
        read = cuts.watch(read)
        frames = estimated_frames(d, exp.feats if d.feats_scp is None else None)
        batches: Iterable[list[str]]
        if frames is not None:
            batches = plan_batches(utt_ids, frames, max_frames)
        else:
            log.info("%s: utterance lengths unknown before reading (no utt2num_frames or "
                     "utt2dur, audio from pipes): decoding in data-dir order", data_dir)
            batches, read = _in_order_batches(utt_ids, read, max_frames, seconds)
        found: dict[str, Hypothesis] = {}
        total_frames = 0
        for u, hyp, n in decode_batches(model, batches, read, normalize, batch_step, device,
                                        seconds):
            cuts.restore(u, hyp)
            found[u] = hyp
            total_frames += n
    finally:
        for f in fds.values():
            f.close()
        if spool is not None:
            spool.close()
    audio = total_frames * exp.feats.frame_shift_ms / 1000
    return DecodeResult.of({u: found[u] for u in utt_ids}, exp.tokenizer, audio,
                           time.time() - t0, seconds)
