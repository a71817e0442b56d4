"""Applying CMVN: global, per-utterance, per-speaker and Kaldi's online (causal) CMVN,
and the normalizer a config asks for (:func:`make_normalizer`); the statistics they use
are :mod:`asr.data.cmvn_stats`'s."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from asr.config.schema import DataConfig
from asr.data.cmvn_stats import load_speaker_stats, load_stats, speaker_stats, speech_mask
from asr.data.kaldi_dir import read_kv
from asr.errors import AsrError, DataError


class GlobalCmvn:
    """Normalize with fixed stats: (x - mean) / std, std floored to avoid blowing up."""

    def __init__(self, stats: np.ndarray, norm_vars: bool = True, var_floor: float = 1e-10):
        count = stats[0, -1]
        mean = stats[0, :-1] / count
        var = np.maximum(stats[1, :-1] / count - mean * mean, var_floor)
        self.dim = mean.shape[0]
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.inv_std = torch.tensor(1.0 / np.sqrt(var) if norm_vars else np.ones_like(var),
                                    dtype=torch.float32)
        self.bias = -self.mean * self.inv_std

    def __call__(self, feats: torch.Tensor, utt_id: str = "") -> torch.Tensor:
        """(T, D) -> (T, D); ``utt_id`` is unused (the same stats for every utterance)."""
        return torch.addcmul(self.bias, feats, self.inv_std)  # (x - mean) / std in one op


class UtteranceCmvn:
    """Normalize each utterance by its own mean (and std) over its speech frames (all frames
    without a noise ``floor``, or when none is speech): speaker and channel agnostic."""

    def __init__(self, norm_vars: bool = True, var_floor: float = 1e-10,
                 floor: np.ndarray | None = None):
        self.norm_vars = norm_vars
        self.var_floor = var_floor
        self.floor = floor

    def __call__(self, feats: torch.Tensor, utt_id: str = "") -> torch.Tensor:
        mask = speech_mask(feats.detach().cpu().numpy(), self.floor)
        ref = feats if mask is None or not mask.any() else feats[torch.from_numpy(mask)]
        mean = ref.mean(dim=0, keepdim=True)
        out = feats - mean
        if self.norm_vars and ref.shape[0] > 1:
            centred = out if ref is feats else ref - mean
            var = centred.var(dim=0, unbiased=False, keepdim=True)
            out = out * var.clamp_min(self.var_floor).rsqrt()
        return out


class OnlineCmvn:
    """Causal CMVN, as Kaldi's ``apply-cmvn-online``: frame t is normalized by the stats
    of the last ``window`` frames up to and including t, topped up with the global
    ``stats`` to ``prior_frames`` frames while the utterance has fewer. Unlike speaker or
    utterance CMVN it needs no audio that has not arrived, so a stream normalizes as it
    goes (:meth:`stream`), and it adapts to a new speaker or channel within seconds.

    Given the fbank's noise ``floor``, only speech frames (:func:`speech_mask`) count in
    the window's stats: silence before the speech leaves the prior in charge."""

    def __init__(self, stats: np.ndarray, window: int = 600, prior_frames: int = 200,
                 norm_vars: bool = True, var_floor: float = 1e-10,
                 floor: np.ndarray | None = None):
        if window < 1 or prior_frames < 0:
            raise ValueError(f"online CMVN needs window >= 1 and prior_frames >= 0, got "
                             f"{window} and {prior_frames}")
        count = stats[0, -1]
        self.prior = np.stack([stats[0, :-1], stats[1, :-1]]) / count  # (2, D): E[x], E[x^2]
        self.window, self.prior_frames = window, prior_frames
        self.norm_vars, self.var_floor = norm_vars, var_floor
        self.floor = floor

    def __call__(self, feats: torch.Tensor, utt_id: str = "") -> torch.Tensor:
        """(T, D) -> (T, D), a whole utterance: what :meth:`stream` gives chunk by chunk."""
        return self.stream()(feats)

    def stream(self) -> OnlineCmvnStream:
        return OnlineCmvnStream(self)


class OnlineCmvnStream:
    """One utterance of :class:`OnlineCmvn`, fed in chunks of any size. It keeps the
    running (sum, sum of squares, count of frames that count) of the last ``window``
    frames as float64 prefix sums, each the previous plus one frame, so any chunking
    gives bit-identical output."""

    def __init__(self, cmvn: OnlineCmvn):
        self.cmvn = cmvn
        self.reset()

    def reset(self) -> None:
        """Back to the start of an utterance."""
        self.frames = 0  # frames seen so far
        # (K, 2, D) and (K,): the sums and counts of the first n frames, n = first..frames
        self.prefix = np.zeros((1, *self.cmvn.prior.shape))
        self.counts = np.zeros(1)

    @property
    def first(self) -> int:
        """Frame count of the oldest prefix sum kept: where the next frame's window starts."""
        return max(0, self.frames + 1 - self.cmvn.window)

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        """The next frames (C, D) -> normalized (C, D), float32."""
        c, w = feats.shape[0], self.cmvn.window
        if c == 0:
            return feats
        x = feats.detach().cpu().numpy().astype(np.float64)
        mask = speech_mask(x, self.cmvn.floor)
        weight = np.ones(c) if mask is None else mask.astype(np.float64)  # (C,)
        pairs = np.concatenate([self.prefix[-1:],
                                np.stack([x, x * x], axis=1) * weight[:, None, None]])
        prefix = np.concatenate([self.prefix, np.cumsum(pairs, axis=0)[1:]])
        counts = np.concatenate([self.counts, self.counts[-1] + np.cumsum(weight)])
        first = self.first
        count = np.arange(self.frames + 1, self.frames + c + 1)  # frames up to each new one
        start = np.maximum(count - w, 0)
        sums = prefix[count - first] - prefix[start - first]  # (C, 2, D)
        n = counts[count - first] - counts[start - first]  # frames that count, per window
        short = np.maximum(self.cmvn.prior_frames - n, 0)
        sums += short[:, None, None] * self.cmvn.prior
        n_eff = np.maximum(n + short, 1.0)[:, None]  # prior_frames 0 and all silence: 1
        mean = sums[:, 0] / n_eff
        out = x - mean
        if self.cmvn.norm_vars:
            out /= np.sqrt(np.maximum(sums[:, 1] / n_eff - mean * mean, self.cmvn.var_floor))
        self.frames += c
        self.prefix = prefix[self.first - first:]
        self.counts = counts[self.first - first:]
        return torch.from_numpy(out.astype(np.float32)).to(feats.device)


def _identity(feats: torch.Tensor, utt_id: str = "") -> torch.Tensor:
    return feats


def top_up(stats: np.ndarray, prior: np.ndarray | None, prior_frames: int) -> np.ndarray:
    """``stats`` with the ``prior`` stats' moments standing in for the frames it lacks up to
    ``prior_frames`` (what online CMVN does at an utterance's start): one short file's
    own stats are too noisy to normalize it with."""
    count = stats[0, -1]
    if prior is None or count >= prior_frames:
        return stats
    scaled = prior * ((prior_frames - count) / prior[0, -1])
    return stats + scaled


class SpeakerCmvn:
    """Normalize with the stats of the utterance's speaker (Kaldi's cmvn.scp semantics),
    topped up with the ``prior`` (training) stats to ``prior_frames`` frames when given."""

    def __init__(self, utt2spk: Mapping[str, str] | None, stats: Mapping[str, np.ndarray],
                 norm_vars: bool = True, prior: np.ndarray | None = None,
                 prior_frames: int = 0):
        self.utt2spk = utt2spk
        stats = {spk: top_up(s, prior, prior_frames) for spk, s in stats.items()}
        # a speaker of digital silence only has no frames, so nothing to normalize
        self.by_speaker = {spk: GlobalCmvn(s, norm_vars) if s[0, -1] > 0 else _identity
                           for spk, s in stats.items()}

    def __call__(self, feats: torch.Tensor, utt_id: str = "") -> torch.Tensor:
        spk = self.utt2spk.get(utt_id) if self.utt2spk is not None else utt_id
        norm = self.by_speaker.get(spk) if spk is not None else None
        if norm is None:
            raise DataError(f"utterance '{utt_id}': no CMVN stats for its speaker '{spk}' "
                            "(re-run 'asr cmvn --per-speaker' on its data dir)")
        return norm(feats)


Normalizer = Callable[[torch.Tensor, str], torch.Tensor]  # (feats (T, D), utt_id) -> feats


def make_normalizer(cfg: DataConfig, stats_path: Path | None, data_dir: Path | None = None,
                    feats: Iterable[tuple[str, np.ndarray]] | None = None,
                    floor: np.ndarray | None = None,
                    utt2spk: Mapping[str, str] | None = None) -> Normalizer:
    """The CMVN of ``cfg.cmvn``. Global and online use the training stats at ``stats_path``;
    speaker uses DATA_DIR/cmvn.scp, or stats accumulated from ``feats`` when it has none.
    Without a data dir the speakers are those of ``utt2spk``, or each utterance is its own
    (as in Kaldi without utt2spk).

    ``floor`` (:func:`asr.data.features.log_noise_floor`; None for Kaldi-exact features)
    makes the stats computed here speech-only (:func:`speech_mask`), and tops up a
    speaker's stats with the training stats to ``cfg.cmvn_prior_frames`` frames
    (:func:`top_up`): one short file's own stats are too noisy to normalize it with.
    Exp dirs from before the noise floor (Kaldi-exact features) keep Kaldi's CMVN."""
    if cfg.cmvn in ("global", "online"):
        if stats_path is None or not Path(stats_path).is_file():
            raise AsrError(f"data.cmvn is '{cfg.cmvn}' but the CMVN stats {stats_path} are "
                           "missing (run 'asr cmvn' on the training data dir)")
        if cfg.cmvn == "online":
            return OnlineCmvn(load_stats(stats_path), cfg.cmvn_window, cfg.cmvn_prior_frames,
                              cfg.norm_vars, floor=floor)
        return GlobalCmvn(load_stats(stats_path), cfg.norm_vars)
    if cfg.cmvn == "speaker":
        prior = load_stats(stats_path) if floor is not None and stats_path is not None \
            and Path(stats_path).is_file() else None
        if data_dir is None:
            if feats is None:
                raise AsrError("data.cmvn is 'speaker' but no data dir gives the speakers")
            return SpeakerCmvn(utt2spk, speaker_stats(feats, utt2spk, floor), cfg.norm_vars,
                               prior, cfg.cmvn_prior_frames)
        # the callers have loaded and checked the dir already: only the speakers are needed
        spk_file = Path(data_dir) / "utt2spk"
        utt2spk = read_kv(spk_file, what="speaker") if spk_file.is_file() else None
        if (Path(data_dir) / "cmvn.scp").is_file():
            stats = load_speaker_stats(data_dir)
        elif feats is not None:
            stats = speaker_stats(feats, utt2spk, floor)
        else:
            raise AsrError(f"data.cmvn is 'speaker' but {data_dir}/cmvn.scp is missing "
                           f"(run 'asr cmvn --per-speaker {data_dir}')")
        return SpeakerCmvn(utt2spk, stats, cfg.norm_vars, prior, cfg.cmvn_prior_frames)
    if cfg.cmvn == "utterance":
        return UtteranceCmvn(cfg.norm_vars, floor=floor)
    return _identity
