"""Forced alignment of a data dir's transcripts (``asr align``): word times from the model,
and a score per utterance that says how well its transcript fits its audio.

Each utterance's ``text`` is tokenized and aligned to the model's log-probs by CTC
Viterbi (:func:`asr.functional.ctc_align.ctc_align`), its words timed as decoding times
them (:class:`asr.decode.timing.HypothesisTimer`). The fit score is the log-probability
of the forced path minus that of the best unconstrained path (every frame's most likely
output), per output frame: 0 when the transcript is what the model hears, strongly negative
when it is not. Utterances under a threshold are flagged, as Kaldi's data clean-up flags
segments whose transcript does not match the decoded audio.

A recording of an hour aligns as one utterance in bounded memory: the model runs in
windows (:mod:`asr.decode.long_forward`) and the Viterbi pass keeps sqrt(T) checkpoints
instead of its whole trellis (:func:`asr.functional.ctc_align.viterbi_bounded`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from asr.data.kaldi_dir import read_kv
from asr.decode.data_dir import DecodeResult, decode_data_dir
from asr.decode.defaults import DEFAULT_FLAG_THRESHOLD, DEFAULT_MAX_FRAMES
from asr.decode.hypothesis import Hypothesis
from asr.decode.timing import HypothesisTimer, Timed, TimingSpec
from asr.errors import DataError
from asr.exp.experiment import Experiment
from asr.functional.ctc_align import AlignmentError, min_frames
from asr.nn.model import CTCModel


class Aligner:
    """The batch step of ``asr align``: each utterance's transcript ids aligned to its
    log-probs; the hypothesis holds the transcript, its times, and the fit score."""

    def __init__(self, transcripts: dict[str, list[int]], timer: HypothesisTimer):
        self.transcripts, self.timer = transcripts, timer
        self.reasons: dict[str, str] = {}  # utterance -> why it has no alignment

    def __call__(self, utts: list[str], log_probs: torch.Tensor, lengths: torch.Tensor,
                 feats: list[np.ndarray]) -> list[Hypothesis]:
        lp = log_probs.float().cpu()
        return [self.align(u, lp[b, :int(lengths[b])], feats[b]) for b, u in enumerate(utts)]

    def align(self, utt: str, log_probs: torch.Tensor, feats: np.ndarray | None = None
              ) -> Hypothesis:
        """One utterance: log_probs (T, V), raw fbank frames (T_in, D) for word times."""
        ids = self._transcript(utt)
        t = log_probs.shape[0]
        try:
            timed = self.timer(log_probs, ids, feats)
        except AlignmentError:
            self.reasons[utt] = (f"{len(ids)} tokens need {min_frames(ids)} output frames, "
                                 f"the audio gives {t}")
            return Hypothesis(ids, score=-math.inf)
        best = float(log_probs.max(dim=-1).values.sum())
        return Hypothesis(ids, score=(timed.path_logp - best) / max(1, t), timed=timed)

    def _transcript(self, utt: str) -> list[int]:
        if utt not in self.transcripts:
            raise DataError(f"utterance '{utt}' has no line in text: nothing to align")
        return self.transcripts[utt]

    def empty(self, utt: str) -> Hypothesis:
        ids = self._transcript(utt)
        if ids:
            self.reasons[utt] = "too short for one model output frame"
            return Hypothesis(ids, score=-math.inf)
        return Hypothesis([], score=0.0, timed=Timed([], [], 0.0))


@dataclass
class AlignResult:
    """Every utterance's aligned transcript (``hypotheses``: ids, fit score, times), and
    the flagged ones with why."""

    decode: DecodeResult
    flagged: dict[str, str]

    @property
    def hypotheses(self) -> dict[str, Hypothesis]:
        return self.decode.hypotheses


def align_data_dir(exp: Experiment, data_dir: Path, checkpoint: str | None = None,
                   threshold: float = DEFAULT_FLAG_THRESHOLD, times: TimingSpec | None = None,
                   max_frames: int = DEFAULT_MAX_FRAMES, device: str = "cpu",
                   allow_resample: bool = False, allow_pipes: bool = True,
                   from_audio: bool = False) -> AlignResult:
    """Align every utterance of ``data_dir`` to its ``text`` (features and CMVN as the exp
    says, batched as ``asr decode`` batches); utterances whose fit score is under
    ``threshold``, or that cannot be aligned at all, are flagged."""
    text_path = Path(data_dir) / "text"
    if not text_path.is_file():
        raise DataError(f"{data_dir}: no text to align (asr align needs transcripts)")
    texts = read_kv(text_path, what="transcript", allow_empty=True)
    transcripts = {u: exp.tokenizer.encode(t) for u, t in texts.items()}
    aligner: Aligner | None = None

    def step(model: CTCModel) -> Aligner:
        nonlocal aligner
        aligner = Aligner(transcripts, (times or TimingSpec()).timer(exp, model))
        return aligner

    result = decode_data_dir(exp, data_dir, checkpoint, max_frames=max_frames, device=device,
                             allow_resample=allow_resample, allow_pipes=allow_pipes,
                             from_audio=from_audio, step=step)
    assert aligner is not None
    flagged = dict(aligner.reasons)
    for u, h in result.hypotheses.items():
        if u not in flagged and h.score is not None and h.score < threshold:
            flagged[u] = f"fit score {h.score:.3f} < {threshold:g}"
    return AlignResult(result, flagged)
