"""Which fbank frames were digital silence cut by ``fbank.silence_frames``: the index of
each kept frame from the audio, and whether features alone may hold a cut (each cut leaves
``silence_frames`` silent frames before it). Word times use them to put the silence back.
"""

from __future__ import annotations

import numpy as np
import torch

from asr.config.schema import FbankConfig
from asr.data import kaldi_fbank
from asr.data.features import at_feature_rate, fbank_pieces, log_noise_floor, num_frames


def kept_frames(samples: torch.Tensor, rate: int, cfg: FbankConfig, utt_id: str = "?",
                allow_resample: bool = False) -> np.ndarray | None:
    """(T,) int64: the index, among all fbank frames of ``samples`` (S,), of each frame
    :func:`compute_fbank` keeps; None when it keeps every one (no run of digital silence
    longer than cfg.silence_frames). Word times use it to put the cut silence back."""
    if cfg.silence_frames < 0:
        return None
    samples = at_feature_rate(samples, rate, cfg, utt_id, allow_resample, allow_short=True)
    if num_frames(samples.numel(), cfg) == 0:
        return None
    kept = torch.cat([p.kept for p in fbank_pieces(samples, cfg)])
    return None if bool(kept.all()) else torch.nonzero(kept).flatten().numpy()


def may_hold_cut(feats: np.ndarray, cfg: FbankConfig) -> bool:
    """Whether fbank frames (T, D) made with ``cfg`` may have had digital silence cut from
    them: they hold a run of cfg.silence_frames frames that digital silence could give
    (every bin at most the log of the noise floor plus the silence threshold). Each cut
    leaves such a run before it, so False means nothing was cut."""
    if cfg.silence_frames == 0:
        return True  # every silent frame was cut: none is left to see
    if cfg.silence_frames < 0 or len(feats) < cfg.silence_frames:
        return False
    floor = log_noise_floor(cfg)
    noise = np.exp(floor) if floor is not None else np.zeros(cfg.num_mel_bins)
    bound = np.log(np.maximum(noise + kaldi_fbank.DIGITAL_SILENCE_ENERGY,
                              np.finfo(np.float32).eps)) + 1e-4
    silent = np.all(np.asarray(feats) <= bound, axis=1)
    run = np.convolve(silent.astype(np.int64), np.ones(cfg.silence_frames, np.int64), "valid")
    return bool((run >= cfg.silence_frames).any())
