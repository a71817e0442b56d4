"""Waveform augmentation (data.augment): tempo, reverberation, additive noise, volume, a noise
gate, digital silence, and the VTLP warp factor the fbank applies. docs/augmentation.md says
what each is for.

Every draw comes from :func:`utterance_generator` with its own salt (``"noise/" + utt``),
so it depends on (seed, epoch, utterance) only: not on the DataLoader worker, the order,
a resume, or which other augmentations are on.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from asr.config.augment_schema import AugmentConfig
from asr.config.schema import FbankConfig
from asr.data.audio_bank import AudioBank
from asr.data.augment import utterance_generator
from asr.data.torchaudio_lib import torchaudio
from asr.data.wsola import tempo
from asr.errors import ConfigError, DataError

# Kaldi's VTLN cutoffs (vtln-low 100 Hz, vtln-high Nyquist - 500 Hz): the warp is
# piecewise linear between them, so the band edges stay where they are.
VTLN_LOW, VTLN_HIGH = 100.0, -500.0


def uniform(g: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g, dtype=torch.float64))


def _energy(x: torch.Tensor) -> float:
    # numpy's float64 pairwise sum: torch's CPU sum changes in the last bit with the thread
    # count (measured), and DataLoader workers run one thread where the main process runs many
    return float(np.sum(np.square(x.numpy(), dtype=np.float64)))


def noise_segment(noise: torch.Tensor, length: int, g: torch.Generator) -> torch.Tensor:
    """A random stretch of ``length`` samples of (N,) ``noise``, looped if it is shorter."""
    n = noise.numel()
    if n >= length:
        start = int(torch.randint(n - length + 1, (1,), generator=g))
        return noise[start:start + length]
    start = int(torch.randint(n, (1,), generator=g))
    return noise.repeat(-(-(start + length) // n))[start:start + length]


def mix_at_snr(samples: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    """(S,) ``samples`` plus (S,) ``noise`` scaled so that the energy ratio is ``snr_db``.

    What torchaudio.functional.add_noise computes, with the energies summed in float64 by
    numpy (see :func:`_energy`). Silence on either side leaves ``samples`` as they are.
    """
    signal, power = _energy(samples), _energy(noise)
    if signal == 0.0 or power == 0.0:
        return samples
    scale = math.sqrt(signal / (power * 10.0 ** (snr_db / 10.0)))
    mixed = samples.numpy().astype(np.float64) + scale * noise.numpy()
    return torch.from_numpy(mixed.astype(np.float32))


def normalize_rir(rir: torch.Tensor, name: str) -> torch.Tensor:
    """(K,) RIR scaled to unit energy: reverberated speech keeps its level (for white
    signals exactly, for speech about), so SNRs and gains mean the same with or without it."""
    energy = _energy(rir)
    if energy == 0.0:
        raise DataError(f"RIR '{name}' has zero energy (all samples are 0)")
    return (rir.to(torch.float64) / math.sqrt(energy)).to(torch.float32)


def reverberate(samples: torch.Tensor, rir: torch.Tensor) -> torch.Tensor:
    """(S,) ``samples`` convolved with (K,) ``rir`` -> (S,), cut so that the RIR's peak (the
    direct path) lands where the dry sample was: no frame moves, CTC sees the same timing.
    """
    peak = int(rir.abs().argmax())  # the first of equal peaks
    if int(torch.count_nonzero(rir)) == 1:  # a pure delay, which the alignment removes:
        return samples * rir[peak]  # exact, where the FFT would round
    # zeros after the input make the FFT size 2^k or 3 x 2^k: 3-4x faster than the odd
    # sizes S + K - 1 usually is (measured), and the part kept is the same convolution
    n = samples.numel() + rir.numel() - 1
    pow2 = 1 << (n - 1).bit_length()
    size = 3 * pow2 // 4 if 3 * pow2 // 4 >= n else pow2
    wet = torchaudio.functional.fftconvolve(F.pad(samples, (0, size - n)), rir)  # (size,)
    return wet[peak:peak + samples.numel()]


def pad_with_silence(samples: torch.Tensor, rate: int, g: torch.Generator,
                     seconds: tuple[float, float]) -> torch.Tensor:
    """(S,) -> (B + S + A,): B and A samples of exact zeros (digital silence) before and
    after, each drawn uniformly from ``seconds``."""
    before, after = (round(uniform(g, *seconds) * rate) for _ in range(2))
    return F.pad(samples, (before, after))


def noise_gate(samples: torch.Tensor, rate: int, threshold_db: float) -> torch.Tensor:
    """(S,) with every 10 ms block whose energy is ``threshold_db`` (<= 0) or more below the
    loudest block's set to exact zeros (a hard gate, as VAD-gated audio has it)."""
    block = max(1, rate // 100)
    n = samples.numel() // block * block
    energy = np.square(samples[:n].numpy().astype(np.float64)).reshape(-1, block).sum(axis=1)
    if energy.size == 0 or energy.max() == 0.0:
        return samples
    quiet = energy < energy.max() * 10.0 ** (threshold_db / 10.0)  # (S // block,)
    mask = torch.from_numpy(np.repeat(~quiet, block))
    out = samples.clone()
    out[:n] = out[:n] * mask
    return out


def check_vtlp(cfg: FbankConfig) -> None:
    """VTLP needs the filterbank to span Kaldi's VTLN cutoffs (else torchaudio asserts)."""
    nyquist = cfg.sample_rate / 2
    high = cfg.high_freq if cfg.high_freq > 0 else nyquist + cfg.high_freq
    if not cfg.low_freq < VTLN_LOW < nyquist + VTLN_HIGH < high:
        raise ConfigError(f"data.augment.vtlp needs the fbank's low_freq below {VTLN_LOW:g} "
                          f"Hz and high_freq above Nyquist {VTLN_HIGH:g} Hz (Kaldi's VTLN "
                          f"cutoffs); the features have low_freq {cfg.low_freq:g}, high_freq "
                          f"{cfg.high_freq:g} at {cfg.sample_rate} Hz")


class WaveAugment:
    """The audio half of data.augment at one sample rate, for training utterances.

    Sources are listed and checked here, in the process that builds the dataset, so a bad
    one fails before training starts; their audio is loaded in the workers, once.
    """

    def __init__(self, cfg: AugmentConfig, rate: int, seed: int, allow_pipes: bool = True):
        self.cfg, self.rate, self.seed = cfg, rate, seed
        r, n = cfg.reverb, cfg.noise
        self.rirs = AudioBank(r.source, "RIR", "reverb", rate, r.allow_resample,
                              r.max_rir_seconds, normalize_rir, allow_pipes) \
            if r.prob > 0 else None
        self.noises = AudioBank(n.source, "noise", "noise", rate, n.allow_resample,
                                allow_pipes=allow_pipes) if n.prob > 0 else None

    def _draw(self, salt: str, prob: float, epoch: int, utt_id: str) -> torch.Generator | None:
        """The generator of augmentation ``salt`` if it applies to this utterance now."""
        if prob <= 0:
            return None
        g = utterance_generator(self.seed, epoch, f"{salt}/{utt_id}")
        return g if prob >= 1 or float(torch.rand((), generator=g)) < prob else None

    def __call__(self, samples: torch.Tensor, epoch: int, utt_id: str
                 ) -> tuple[torch.Tensor, float]:
        """(augmented (S',) audio at ``rate``, VTLN warp factor for its fbank (1: none))."""
        cfg = self.cfg
        if (g := self._draw("tempo", cfg.tempo.prob, epoch, utt_id)) is not None:
            samples = tempo(samples, self.rate, uniform(g, *cfg.tempo.factor))
        if (g := self._draw("reverb", cfg.reverb.prob, epoch, utt_id)) is not None:
            assert self.rirs is not None
            samples = reverberate(samples, self.rirs.pick(g))
        if (g := self._draw("noise", cfg.noise.prob, epoch, utt_id)) is not None:
            assert self.noises is not None
            noise = noise_segment(self.noises.pick(g), samples.numel(), g)
            samples = mix_at_snr(samples, noise, uniform(g, *cfg.noise.snr_db))
        if (g := self._draw("volume", cfg.volume.prob, epoch, utt_id)) is not None:
            samples = samples * 10.0 ** (uniform(g, *cfg.volume.gain_db) / 20.0)
        if (g := self._draw("gate", cfg.gate.prob, epoch, utt_id)) is not None:
            samples = noise_gate(samples, self.rate, uniform(g, *cfg.gate.threshold_db))
        if (g := self._draw("silence", cfg.silence.prob, epoch, utt_id)) is not None:
            samples = pad_with_silence(samples, self.rate, g, cfg.silence.seconds)
        g = self._draw("vtlp", cfg.vtlp.prob, epoch, utt_id)
        return samples, uniform(g, *cfg.vtlp.warp) if g is not None else 1.0

    def fastest(self) -> float:
        """The largest factor by which tempo can shorten an utterance (1: it cannot)."""
        return max(self.cfg.tempo.factor[1], 1.0) if self.cfg.tempo.prob > 0 else 1.0
