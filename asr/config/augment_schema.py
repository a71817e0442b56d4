"""The ``data.augment`` section: waveform augmentation on the fly (docs/augmentation.md).

Every probability defaults to 0, so a config without this section computes what it did
before the section existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asr.config.fields import doc


def _check_augment(prob: float, pairs: dict[str, tuple[float, float]],
                   positive: bool = False) -> None:
    """A probability in [0, 1] and [low, high] ranges the right way up (> 0 if asked)."""
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob: expected a probability in [0, 1], got {prob:g}")
    for name, (low, high) in pairs.items():
        if low > high:
            raise ValueError(f"{name}: [{low:g}, {high:g}] is upside down (low > high); "
                             "write [low, high]")
        if positive and low <= 0:
            raise ValueError(f"{name}: [{low:g}, {high:g}] must be > 0")


def _need_source(prob: float, source: str) -> None:
    if prob > 0 and not source:
        raise ValueError("source: required when prob > 0 (a data dir or a folder of audio)")


@dataclass(frozen=True)
class TempoConfig:
    """Tempo: faster or slower speech at the same pitch (WSOLA), unlike data.speed_perturb."""

    prob: float = doc(0.0, "chance per utterance and epoch; 0: off")
    factor: tuple[float, float] = doc((0.9, 1.1), "[low, high] drawn uniformly; 1.1 plays 10% "
                                                  "faster (shorter)")

    def __post_init__(self) -> None:
        _check_augment(self.prob, {"factor": self.factor}, positive=True)


@dataclass(frozen=True)
class ReverbConfig:
    """Reverberation: convolution with a room impulse response, aligned on its peak."""

    prob: float = doc(0.0, "chance per utterance and epoch; 0: off")
    source: str = doc("", "RIRs: a data dir (wav.scp) or a folder searched for .wav/.flac "
                          "(RIRS_NOISES/simulated_rirs, or what 'asr make-rirs' writes)")
    max_rir_seconds: float = doc(2.0, "a longer RIR is an error: likely not an RIR at all")
    allow_resample: bool = doc(False, "resample RIRs at another rate instead of an error")

    def __post_init__(self) -> None:
        _check_augment(self.prob, {})
        _need_source(self.prob, self.source)


@dataclass(frozen=True)
class NoiseConfig:
    """Additive noise: a random stretch of a random noise file (looped if short), at an SNR."""

    prob: float = doc(0.0, "chance per utterance and epoch; 0: off")
    source: str = doc("", "a data dir (wav.scp) or a folder searched for .wav/.flac (MUSAN's "
                          "noise/, Speech Commands' _background_noise_)")
    snr_db: tuple[float, float] = doc((0.0, 20.0), "[low, high] dB, drawn uniformly")
    allow_resample: bool = doc(False, "resample noise at another rate instead of an error")

    def __post_init__(self) -> None:
        _check_augment(self.prob, {"snr_db": self.snr_db})
        _need_source(self.prob, self.source)


@dataclass(frozen=True)
class VolumeConfig:
    """Volume: the whole waveform scaled by a random gain."""

    prob: float = doc(0.0, "chance per utterance and epoch; 0: off")
    gain_db: tuple[float, float] = doc((-6.0, 6.0), "[low, high] dB, drawn uniformly")

    def __post_init__(self) -> None:
        _check_augment(self.prob, {"gain_db": self.gain_db})


@dataclass(frozen=True)
class VtlpConfig:
    """Vocal tract length perturbation (Jaitly and Hinton, 2013): a warped mel filterbank."""

    prob: float = doc(0.0, "chance per utterance and epoch; 0: off")
    warp: tuple[float, float] = doc((0.9, 1.1), "[low, high] Kaldi VTLN warp factor, uniform")

    def __post_init__(self) -> None:
        _check_augment(self.prob, {"warp": self.warp}, positive=True)


@dataclass(frozen=True)
class SilenceConfig:
    """Digital silence: exact zeros before and after the speech, as padded or concatenated
    clips, TTS output and VAD-gated audio have them."""

    prob: float = doc(0.0, "chance per utterance and epoch; 0: off")
    seconds: tuple[float, float] = doc((0.1, 1.0), "[low, high] s of zeros, drawn uniformly "
                                                  "for each side")

    def __post_init__(self) -> None:
        _check_augment(self.prob, {"seconds": self.seconds})
        if self.seconds[0] < 0:
            raise ValueError(f"seconds: [{self.seconds[0]:g}, {self.seconds[1]:g}] must be >= 0")


@dataclass(frozen=True)
class GateConfig:
    """A noise gate: every 10 ms of the utterance quieter than ``threshold_db`` below its
    loudest 10 ms becomes exact zeros, as VAD-gated telephony, editors that cut to zero and
    tools that join clips with digital silence leave the pauses between words."""

    prob: float = doc(0.0, "chance per utterance and epoch; 0: off")
    threshold_db: tuple[float, float] = doc((-50.0, -30.0), "[low, high] dB below the loudest "
                                                           "10 ms, drawn uniformly")

    def __post_init__(self) -> None:
        _check_augment(self.prob, {"threshold_db": self.threshold_db})
        if self.threshold_db[1] > 0:
            raise ValueError(f"threshold_db: [{self.threshold_db[0]:g}, "
                             f"{self.threshold_db[1]:g}] must be <= 0 (below the loudest)")


@dataclass(frozen=True)
class AugmentConfig:
    """Waveform augmentation of training utterances, seeded per (seed, epoch, utterance).

    After data.speed_perturb, in this order: tempo, reverb, noise, volume, gate, silence;
    VTLP in fbank.
    """

    tempo: TempoConfig = field(default_factory=TempoConfig)
    reverb: ReverbConfig = field(default_factory=ReverbConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    volume: VolumeConfig = field(default_factory=VolumeConfig)
    vtlp: VtlpConfig = field(default_factory=VtlpConfig)
    silence: SilenceConfig = field(default_factory=SilenceConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    start_epoch: int = doc(1, "augment from this epoch on (1-based): a few clean epochs first let "
                              "CTC leave its all-blank plateau on small, noisy data")

    def __post_init__(self) -> None:
        if self.start_epoch < 1:
            raise ValueError(f"start_epoch: expected >= 1, got {self.start_epoch}")

    @property
    def active(self) -> bool:
        return any(s.prob > 0 for s in (self.tempo, self.reverb, self.noise, self.volume,
                                         self.vtlp, self.silence, self.gate))
