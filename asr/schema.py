"""The config schema: every key a YAML config may hold, with its type and default.

Feature extraction has its own root (:class:`FbankConfig`, written next to each feats.scp
as feats.yaml); training and decoding share :class:`ExperimentConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class FbankConfig:
    """Kaldi-compatible log mel filterbank options (torchaudio.compliance.kaldi.fbank)."""

    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    dither: float = 0.0
    preemphasis: float = 0.97
    low_freq: float = 20.0
    high_freq: float = 0.0  # <= 0 means offset from Nyquist, as in Kaldi
    energy_floor: float = 0.0
    snip_edges: bool = True

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.num_mel_bins <= 0:
            raise ValueError("sample_rate and num_mel_bins must be positive")


@dataclass(frozen=True)
class DataConfig:
    """Where features come from and how utterances become batches."""

    source: Literal["kaldi", "lhotse"] = "kaldi"  # data dirs, or DIR/cuts.jsonl.gz (CutSet)
    features: Literal["precomputed", "on_the_fly"] = "precomputed"  # feats.scp, or from audio
    speed_perturb: tuple[float, ...] = ()  # on the fly, e.g. [0.9, 1.0, 1.1]; train set only
    min_duration: float = 0.0  # seconds; shorter training utterances are dropped
    max_duration: float = 0.0  # seconds; 0 means no bound
    skip_bad: bool = False  # unreadable utterances: counted and skipped instead of an error
    cmvn: Literal["global", "speaker", "utterance", "none"] = "global"
    norm_vars: bool = True
    max_frames: int = 20000  # padded input frames per batch (batch size x longest)
    max_utts: int = 128
    sortagrad: bool = True  # epoch 1 in ascending length order, as in Deep Speech 2
    pool_batches: int = 50  # shuffle pool: sort this many batches' worth by length
    num_workers: int = 0

    def __post_init__(self) -> None:
        if any(f <= 0 for f in self.speed_perturb):
            raise ValueError("speed_perturb factors must be positive")
        if self.speed_perturb and self.features != "on_the_fly":
            raise ValueError("speed_perturb on the fly needs features: on_the_fly (or use "
                             "the 'asr speed-perturb' data-dir stage)")
        if self.max_duration and self.max_duration < self.min_duration:
            raise ValueError("max_duration must be 0 (no bound) or >= min_duration")


@dataclass(frozen=True)
class SpecAugmentConfig:
    """Frequency and time masking (Park et al., 2019), on the fly during training."""

    enabled: bool = True
    num_freq_masks: int = 2
    max_freq_width: int = 8
    num_time_masks: int = 2
    max_time_width: int = 20
    max_time_ratio: float = 0.1  # a time mask covers at most this fraction of the utterance
    time_warp: int = 0  # max shift of the warp point in frames (Park et al. use W=80); 0: off


@dataclass(frozen=True)
class GradFilterConfig:
    """icefall's GradientFilter: damp the gradient of sequences far above the median."""

    enabled: bool = True
    threshold: float = 10.0


@dataclass(frozen=True)
class StackFrontendConfig:
    """Stack ``stack`` consecutive frames into one: the cheap subsampling for LSTMs."""

    type: Literal["stack"] = "stack"
    stack: int = 4


@dataclass(frozen=True)
class Conv2dFrontendConfig:
    """Two (or three) stride-2/3 Conv2d layers, as in ESPnet and WeNet."""

    type: Literal["conv2d"] = "conv2d"
    subsampling: Literal[4, 6, 8] = 4
    channels: int = 64
    output_dim: int = 256  # set to the Conformer's d_model to skip its input projection
    dropout: float = 0.0


@dataclass(frozen=True)
class BiLSTMConfig:
    type: Literal["bilstm"] = "bilstm"
    num_layers: int = 3
    hidden_size: int = 256  # per direction
    projection_size: int = 0  # 0: no projection between layers
    dropout: float = 0.1
    grad_filter: GradFilterConfig = field(default_factory=GradFilterConfig)


@dataclass(frozen=True)
class ConformerConfig:
    type: Literal["conformer"] = "conformer"
    d_model: int = 144
    num_layers: int = 4
    num_heads: int = 4
    ff_dim: int = 576
    kernel_size: int = 15  # depthwise conv over frames after subsampling (odd)
    dropout: float = 0.1
    attention_dropout: float = 0.1
    grad_filter: GradFilterConfig = field(default_factory=lambda: GradFilterConfig(False))


@dataclass(frozen=True)
class ModelConfig:
    frontend: StackFrontendConfig | Conv2dFrontendConfig = field(
        default_factory=StackFrontendConfig)
    encoder: BiLSTMConfig | ConformerConfig = field(default_factory=BiLSTMConfig)


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adam", "adamw"] = "adamw"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    weight_decay: float = 1e-2


@dataclass(frozen=True)
class SchedulerConfig:
    """Learning-rate schedule; steps are optimizer steps."""

    name: Literal["constant", "warmup_cosine", "noam"] = "warmup_cosine"
    warmup_steps: int = 500
    min_lr_ratio: float = 0.01  # cosine ends at lr x this


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    seed: int = 0
    clip_grad_norm: float = 5.0
    accum_grad: int = 1  # batches whose gradients are summed into one optimizer step
    amp: Literal["none", "bf16", "fp16"] = "none"  # autocast dtype; fp16 adds a GradScaler
    log_interval: int = 20  # optimizer steps between TensorBoard points
    log_batches: bool = False  # write every consumed batch's utterance ids to log/batches.txt
    save_every_steps: int = 0  # also checkpoint every N optimizer steps (0: epoch ends only)
    keep_last: int = 5  # epoch checkpoints kept
    keep_best: int = 1  # epoch checkpoints of lowest dev loss kept besides the last ones
    keep_last_steps: int = 2  # every-N-steps checkpoints kept
    average_last: int = 1  # final.pt averages the last N epoch checkpoints
    max_consecutive_skips: int = 20  # non-finite steps in a row before training aborts
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int = 0  # torch CPU threads; 0 keeps torch's default

    def __post_init__(self) -> None:
        if min(self.epochs, self.keep_last, self.average_last, self.accum_grad,
               self.log_interval, self.max_consecutive_skips) < 1:
            raise ValueError("epochs, keep_last, average_last, accum_grad, log_interval and "
                             "max_consecutive_skips must be >= 1")
        if min(self.save_every_steps, self.keep_best, self.keep_last_steps) < 0:
            raise ValueError("save_every_steps, keep_best and keep_last_steps must be >= 0")
        if self.average_last > self.keep_last:
            raise ValueError("average_last cannot exceed keep_last (averaged checkpoints "
                             "must still exist)")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything ``asr train`` needs besides data paths; written to exp/config.yaml."""

    data: DataConfig = field(default_factory=DataConfig)
    specaug: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
