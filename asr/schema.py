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

    sample_rate: int = 16000  # Hz; audio at another rate is an error unless resampling is asked for
    num_mel_bins: int = 80  # feature dimension
    frame_length_ms: float = 25.0  # analysis window
    frame_shift_ms: float = 10.0  # hop between frames
    dither: float = 0.0  # 0 keeps features deterministic (Kaldi's default is 1)
    preemphasis: float = 0.97  # pre-emphasis coefficient
    low_freq: float = 20.0  # Hz, lowest mel bin edge
    high_freq: float = 0.0  # <= 0 means offset from Nyquist, as in Kaldi
    energy_floor: float = 0.0  # floor on the frame energy
    snip_edges: bool = True  # frames fit inside the signal (Kaldi's default)

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
    allow_pipes: bool = True  # run wav.scp pipe entries (shell commands); false refuses them
    cmvn: Literal["global", "speaker", "utterance", "none"] = "global"  # whose stats: set, spk, utt
    norm_vars: bool = True  # normalize variances too, not only means
    max_frames: int = 20000  # padded input frames per batch (batch size x longest)
    max_utts: int = 128  # utterances per batch at most, whatever the frame budget
    sortagrad: bool = True  # epoch 1 in ascending length order, as in Deep Speech 2
    pool_batches: int = 50  # shuffle pool: sort this many batches' worth by length
    num_workers: int = 0  # DataLoader worker processes (pays off for on-the-fly features)

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

    enabled: bool = True  # masks applied to training batches only
    num_freq_masks: int = 2  # frequency masks per utterance
    max_freq_width: int = 8  # bins per frequency mask at most
    num_time_masks: int = 2  # time masks per utterance
    max_time_width: int = 20  # frames per time mask at most
    max_time_ratio: float = 0.1  # a time mask covers at most this fraction of the utterance
    time_warp: int = 0  # max shift of the warp point in frames (Park et al. use W=80); 0: off


@dataclass(frozen=True)
class GradFilterConfig:
    """icefall's GradientFilter: damp the gradient of sequences far above the median."""

    enabled: bool = True  # a GradientFilter before every encoder layer
    threshold: float = 10.0  # scale sequences whose gradient norm exceeds this x the batch median


@dataclass(frozen=True)
class StackFrontendConfig:
    """Stack ``stack`` consecutive frames into one: the cheap subsampling for LSTMs."""

    type: Literal["stack"] = "stack"  # picks this variant
    stack: int = 4  # frames stacked into one (the subsampling factor)


@dataclass(frozen=True)
class Conv2dFrontendConfig:
    """Two (or three) stride-2/3 Conv2d layers, as in ESPnet and WeNet."""

    type: Literal["conv2d"] = "conv2d"  # picks this variant
    subsampling: Literal[4, 6, 8] = 4  # time subsampling factor
    channels: int = 64  # conv channels
    output_dim: int = 256  # set to the Conformer's d_model to skip its input projection
    dropout: float = 0.0  # after the output projection


@dataclass(frozen=True)
class BiLSTMConfig:
    type: Literal["bilstm"] = "bilstm"  # picks this variant
    num_layers: int = 3  # BiLSTM layers
    hidden_size: int = 256  # per direction
    projection_size: int = 0  # 0: no projection between layers
    dropout: float = 0.1  # between layers
    grad_filter: GradFilterConfig = field(default_factory=GradFilterConfig)


@dataclass(frozen=True)
class ConformerConfig:
    type: Literal["conformer"] = "conformer"  # picks this variant
    d_model: int = 144  # attention and feed-forward width
    num_layers: int = 4  # Conformer blocks
    num_heads: int = 4  # attention heads (d_model must divide by it)
    ff_dim: int = 576  # inner size of each macaron feed-forward
    kernel_size: int = 15  # depthwise conv over frames after subsampling (odd)
    dropout: float = 0.1  # in every sub-module
    attention_dropout: float = 0.1  # on the attention weights
    grad_filter: GradFilterConfig = field(default_factory=lambda: GradFilterConfig(False))


@dataclass(frozen=True)
class ModelConfig:
    frontend: StackFrontendConfig | Conv2dFrontendConfig = field(
        default_factory=StackFrontendConfig)
    encoder: BiLSTMConfig | ConformerConfig = field(default_factory=BiLSTMConfig)


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adam", "adamw"] = "adamw"  # optimizer
    lr: float = 1e-3  # peak learning rate (after warmup)
    betas: tuple[float, float] = (0.9, 0.98)  # Adam betas
    eps: float = 1e-8  # Adam epsilon
    weight_decay: float = 1e-2  # decoupled (AdamW) or L2 (Adam)


@dataclass(frozen=True)
class SchedulerConfig:
    """Learning-rate schedule; steps are optimizer steps."""

    name: Literal["constant", "warmup_cosine", "noam"] = "warmup_cosine"  # all warm up linearly
    warmup_steps: int = 500  # optimizer steps of linear warmup
    min_lr_ratio: float = 0.01  # cosine ends at lr x this


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10  # passes over the training data
    seed: int = 0  # every RNG is derived from (seed, epoch, rank)
    clip_grad_norm: float = 5.0  # max global gradient norm (clip_grad_norm_)
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
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present
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
