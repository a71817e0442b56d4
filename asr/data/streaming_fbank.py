"""Kaldi fbank on audio that arrives in pieces of any size.

With ``snip_edges`` (Kaldi's default and ours) frame m covers samples [m * shift,
m * shift + window), and every step after framing (DC removal, pre-emphasis, window, FFT,
mel) works inside one frame. So a frame is computed as soon as its last sample arrives,
from a buffer that starts on the frame grid, and the frames of all pieces are those of
the whole utterance (a run of digital silence is cut to fbank.silence_frames frames as
offline: the length of the run so far is carried from piece to piece).
Without ``snip_edges`` Kaldi reflects the signal at its end and
derives the frame count from the total length, which a stream does not know yet: refused.
"""

from __future__ import annotations

import torch

from asr.config.schema import FbankConfig
from asr.data import kaldi_fbank


class StreamingFbank:
    """``accept(samples) -> (T, D)`` frames completed by the samples (S,) in int16 scale.

    ``dither`` != 0 draws from torch's RNG per call, so its noise (not the framing)
    differs from an offline run's, as it does between two offline runs.
    """

    def __init__(self, cfg: FbankConfig):
        if not cfg.snip_edges:
            raise ValueError("streaming fbank needs snip_edges: true (without it Kaldi "
                             "reflects the signal at its end, which a stream has not seen)")
        self.cfg = cfg
        self.window = int(cfg.sample_rate * cfg.frame_length_ms * 0.001)
        self.shift = int(cfg.sample_rate * cfg.frame_shift_ms * 0.001)
        self.buffer = torch.zeros(0)  # samples from the next frame's start on
        self.silent_run = 0  # frames of digital silence just before the next one
        self.frames = 0  # frames computed since the last reset, cut ones included
        self.kept: list[torch.Tensor] = []  # indices of the frames returned, per piece

    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        """samples (S,) float32, int16 scale -> the (T, num_mel_bins) frames now complete."""
        self.buffer = torch.cat([self.buffer, samples.to(torch.float32).reshape(-1)])
        n = self.buffer.numel()
        count = 1 + (n - self.window) // self.shift if n >= self.window else 0
        if not count:
            return torch.zeros(0, self.cfg.num_mel_bins)
        used = self.buffer[:(count - 1) * self.shift + self.window]
        c = self.cfg
        piece = kaldi_fbank.fbank_piece(
            used, c.sample_rate, c.num_mel_bins, c.frame_length_ms, c.frame_shift_ms, c.dither,
            c.preemphasis, c.low_freq, c.high_freq, c.snip_edges, noise_floor=c.noise_floor,
            silence_frames=c.silence_frames, silent_run=self.silent_run)
        self.silent_run = piece.silent_run
        if piece.kept is not None:
            self.kept.append(torch.nonzero(piece.kept).flatten() + self.frames)
        self.frames += count
        self.buffer = self.buffer[count * self.shift:].clone()  # no view pinning the past
        return piece.features

    def kept_frames(self) -> torch.Tensor | None:
        """(T,) int64: the index among all frames since the last reset of each frame
        returned (runs of digital silence are cut); None when none was cut."""
        if not self.kept:
            return None
        kept = torch.cat(self.kept)
        return None if kept.numel() == self.frames else kept

    def reset(self) -> None:
        """Drop the samples held: the next ones start a new utterance (samples after the
        last whole frame make no frame, as offline)."""
        self.buffer = torch.zeros(0)
        self.silent_run = 0
        self.frames = 0
        self.kept = []
