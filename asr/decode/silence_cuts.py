"""Word times on the audio's clock when fbank cut digital silence from the features.

fbank keeps at most ``fbank.silence_frames`` frames of each run of digital silence, so a
model's frame k lies later in the audio than k frames once a run was cut. The features
alone cannot say how much was cut: an utterance whose features could hold a cut
(:func:`asr.data.features.may_hold_cut`) has its audio read again for the kept-frame
indices, and its hypothesis's times are moved onto them
(:func:`asr.decode.timing.with_cut_silence`). Most utterances hold no cut and cost nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from asr.config.schema import FbankConfig
from asr.data.audio import load_audio
from asr.data.kaldi_dir import DataDir
from asr.data.silence_frames import kept_frames, may_hold_cut
from asr.decode.hypothesis import Hypothesis
from asr.decode.timing import Timed, with_cut_silence
from asr.errors import AsrError

log = logging.getLogger(__name__)

AudioLoader = Callable[[str], tuple[torch.Tensor, int]]  # utterance -> (samples (S,), rate)


def data_dir_audio(d: DataDir, allow_pipes: bool = True) -> AudioLoader | None:
    """The audio of each utterance of ``d`` (its segment of wav.scp), None without wav.scp."""
    if d.wav_scp is None:
        return None

    def load(utt: str) -> tuple[torch.Tensor, int]:
        rx, start, end = d.audio_of(utt)
        return load_audio(rx, utt, start, end, allow_pipes)

    return load


def on_audio_clock(timed: Timed, kept: np.ndarray, cfg: FbankConfig) -> Timed:
    """``timed`` (times over the kept fbank frames of ``cfg``) on the audio's clock, given
    each kept frame's index among all (``kept``)."""
    return with_cut_silence(timed, kept, cfg.frame_shift_ms / 1000, cfg.frame_length_ms / 1000)


class SilenceCuts:
    """Watches the features read for a decode (:meth:`watch`) and puts the cut silence
    back into the times of the hypotheses that may hold some (:meth:`restore`). ``load``
    gives an utterance's audio; None (features without audio) leaves the times on the
    kept frames, which a warning says once. Inactive (a decode without times, features
    that cut nothing) it reads nothing and changes nothing."""

    def __init__(self, cfg: FbankConfig, load: AudioLoader | None,
                 allow_resample: bool = False, active: bool = True):
        self.cfg, self.load, self.allow_resample = cfg, load, allow_resample
        self.active = active and cfg.silence_frames >= 0
        self.suspects: dict[str, int] = {}  # utterance -> its feature frames
        self.warned = False

    def watch(self, read: Callable[[str], np.ndarray]) -> Callable[[str], np.ndarray]:
        """``read`` (utterance -> raw fbank frames (T, D)), noting the utterances whose
        frames may hold a cut (``read`` itself when inactive)."""
        if not self.active:
            return read

        def read_and_check(utt: str) -> np.ndarray:
            feats = read(utt)
            if may_hold_cut(np.asarray(feats), self.cfg):
                self.suspects[utt] = len(feats)
            return feats

        return read_and_check

    def restore(self, utt: str, hyp: Hypothesis) -> None:
        """Moves ``hyp``'s times (if any) onto the audio's clock where frames were cut."""
        if hyp.timed is None or utt not in self.suspects:
            return
        if self.load is None:
            if not self.warned:
                log.warning("the features hold runs of digital silence that fbank may have "
                            "cut (fbank.silence_frames %d) and the data dir has no audio to "
                            "tell: word times after such a run can be early by the cut",
                            self.cfg.silence_frames)
                self.warned = True
            return
        try:
            samples, rate = self.load(utt)
            kept = kept_frames(samples, rate, self.cfg, utt, self.allow_resample)
        except AsrError as e:
            log.warning("utterance '%s': its audio could not be read again to time the words "
                        "after cut digital silence (%s): times left on the kept frames", utt, e)
            return
        if kept is not None and len(kept) != self.suspects[utt]:
            log.warning("utterance '%s': its audio gives %d fbank frames, its features %d "
                        "(made from other audio?): times left on the kept frames", utt,
                        len(kept), self.suspects[utt])
        elif kept is not None:
            hyp.timed = on_audio_clock(hyp.timed, kept, self.cfg)
