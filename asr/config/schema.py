"""The config schema: every key a YAML config may hold, with its type and default.

Feature extraction has its own root (:class:`FbankConfig`, written next to each feats.scp
as feats.yaml); training and decoding share :class:`ExperimentConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from asr.config.augment_schema import AugmentConfig
from asr.config.fields import doc
from asr.config.model_schema import ModelConfig


@dataclass(frozen=True)
class FbankConfig:
    """Kaldi-compatible log mel filterbank options (torchaudio.compliance.kaldi.fbank)."""

    sample_rate: int = doc(16000, "Hz; audio at another rate is an error unless resampling is "
                                  "asked for")
    num_mel_bins: int = doc(80, "feature dimension")
    frame_length_ms: float = doc(25.0, "analysis window")
    frame_shift_ms: float = doc(10.0, "hop between frames")
    dither: float = doc(0.0, "0 keeps features deterministic (Kaldi's default is 1)")
    preemphasis: float = doc(0.97, "pre-emphasis coefficient")
    low_freq: float = doc(20.0, "Hz, lowest mel bin edge")
    high_freq: float = doc(0.0, "<= 0 means offset from Nyquist, as in Kaldi")
    energy_floor: float = doc(0.0, "floor on the frame energy")
    noise_floor: float = doc(0.1, "std (int16 scale) of white noise whose expected mel energy "
                                  "is added before the log: Kaldi's dither, deterministic, so "
                                  "digital silence sits just under any recording's "
                                  "quantization noise; 0: Kaldi-exact")
    silence_frames: int = doc(20, "keep at most this many frames of each run of digital "
                                  "silence (exact zeros: nothing was recorded), so that how "
                                  "much of it surrounds or interrupts the speech cannot "
                                  "change the text; -1 keeps all (Kaldi)")
    snip_edges: bool = doc(True, "frames fit inside the signal (Kaldi's default)")

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.num_mel_bins <= 0:
            raise ValueError("sample_rate and num_mel_bins must be positive")
        if self.noise_floor < 0:
            raise ValueError(f"noise_floor must be >= 0, got {self.noise_floor:g}")
        if self.silence_frames < -1:
            raise ValueError(f"silence_frames must be >= 0, or -1 to keep every frame, got "
                             f"{self.silence_frames}")


@dataclass(frozen=True)
class DataConfig:
    """Where features come from and how utterances become batches."""

    source: Literal["kaldi", "lhotse", "lhotse_shar"] = doc(
        "kaldi", "data dirs, DIR/cuts.jsonl.gz (CutSet), or shard dirs ('asr shar')")
    features: Literal["precomputed", "on_the_fly"] = doc("precomputed", "feats.scp, or from audio")
    speed_perturb: tuple[float, ...] = doc((), "on the fly, e.g. [0.9, 1.0, 1.1]; train set only")
    min_duration: float = doc(0.0, "seconds; shorter training utterances are dropped")
    max_duration: float = doc(0.0, "seconds; 0 means no bound")
    skip_bad: bool = doc(False, "unreadable utterances: counted and skipped instead of an error")
    allow_pipes: bool = doc(True, "run wav.scp pipe entries (shell commands); false refuses them")
    cmvn: Literal["global", "speaker", "utterance", "online", "none"] = doc(
        "global", "whose stats: set, spk, utt; online: the past frames of the utterance "
                  "(causal: streams), topped up with the set's")
    norm_vars: bool = doc(True, "normalize variances too, not only means")
    cmvn_window: int = doc(600, "online CMVN: frames of the past a frame's stats cover "
                                "(Kaldi's --cmn-window)")
    cmvn_prior_frames: int = doc(200, "online CMVN: the set's stats stand in for the frames "
                                      "an utterance does not have yet, up to this many "
                                      "(Kaldi's --global-frames)")
    max_frames: int = doc(20000, "padded input frames per batch (batch size x longest)")
    max_utts: int = doc(128, "utterances per batch at most, whatever the frame budget")
    sortagrad: bool = doc(True, "epoch 1 in ascending length order, as in Deep Speech 2")
    pool_batches: int = doc(50, "shuffle pool: sort this many batches' worth by length")
    num_workers: int = doc(0, "DataLoader worker processes (pays off for on-the-fly features)")
    buffer_shards: int = doc(4, "lhotse_shar: shards read into memory together; their cuts "
                                "are shuffled and batched together (the shuffle buffer)")
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if any(f <= 0 for f in self.speed_perturb):
            raise ValueError("speed_perturb factors must be positive")
        if self.speed_perturb and self.features != "on_the_fly":
            raise ValueError("speed_perturb on the fly needs features: on_the_fly (or use "
                             "the 'asr speed-perturb' data-dir stage)")
        if self.speed_perturb and self.source == "lhotse":
            raise ValueError(f"data.speed_perturb is {list(self.speed_perturb)} but data.source "
                             f"is {self.source!r}: speed perturbation on the fly reads Kaldi data "
                             "dirs and shard dirs only (a CutSet would train unperturbed); set "
                             "data.source: kaldi or lhotse_shar, or data.speed_perturb: [] and "
                             "perturb the cuts with lhotse")
        if self.augment.active and (self.features != "on_the_fly" or self.source == "lhotse"):
            raise ValueError("augment needs features: on_the_fly and source: kaldi or "
                             "lhotse_shar: it changes the audio (and VTLP the filterbank) that "
                             "features are computed from; for precomputed features make "
                             "augmented copies with 'asr augment-data'")
        if self.buffer_shards < 1:
            raise ValueError(f"data.buffer_shards must be >= 1, got {self.buffer_shards}")
        if self.cmvn_window < 1 or self.cmvn_prior_frames < 0:
            raise ValueError("data.cmvn_window must be >= 1 and data.cmvn_prior_frames >= 0")
        if self.max_duration and self.max_duration < self.min_duration:
            raise ValueError("max_duration must be 0 (no bound) or >= min_duration")


@dataclass(frozen=True)
class SpecAugmentConfig:
    """Frequency and time masking (Park et al., 2019), on the fly during training."""

    enabled: bool = doc(True, "masks applied to training batches only")
    num_freq_masks: int = doc(2, "frequency masks per utterance")
    max_freq_width: int = doc(8, "bins per frequency mask at most")
    num_time_masks: int = doc(2, "time masks per utterance")
    max_time_width: int = doc(20, "frames per time mask at most")
    max_time_ratio: float = doc(0.1, "a time mask covers at most this fraction of the utterance")
    time_warp: int = doc(0, "max shift of the warp point in frames (Park et al. use W=80); 0: off")
    start_epoch: int = doc(1, "mask from this epoch on (1-based): masks from the first step "
                              "keep a small corpus's CTC on its all-blank plateau longer "
                              "(recipes/yesno/RESULTS.md)")

    def __post_init__(self) -> None:
        if self.start_epoch < 1:
            raise ValueError(f"specaug.start_epoch must be >= 1, got {self.start_epoch}")


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adam", "adamw"] = doc("adamw", "optimizer")
    lr: float = doc(1e-3, "peak learning rate (after warmup)")
    betas: tuple[float, float] = doc((0.9, 0.98), "Adam betas")
    eps: float = doc(1e-8, "Adam epsilon")
    weight_decay: float = doc(1e-2, "decoupled (AdamW) or L2 (Adam)")


@dataclass(frozen=True)
class SchedulerConfig:
    """Learning-rate schedule; steps are optimizer steps."""

    name: Literal["constant", "warmup_cosine", "noam"] = doc(
        "warmup_cosine", "all warm up linearly")
    warmup_steps: int = doc(500, "optimizer steps of linear warmup")
    min_lr_ratio: float = doc(0.01, "cosine ends at lr x this")


@dataclass(frozen=True)
class LossConfig:
    """What training minimizes besides the CTC loss of the final layer; all off by default."""

    cr_ctc_weight: float = doc(0.0, "consistency-regularized CTC (Yao et al., 2024; icefall "
                                    "uses 0.2): each utterance in two SpecAugment views, CTC "
                                    "on both, plus this x the KL divergence of each view's "
                                    "frame posteriors to the other's (2x the compute); 0: off")
    interctc_weight: float = doc(0.0, "intermediate CTC (ESPnet's interctc): the loss is "
                                      "(1 - w) x final CTC + w x the mean CTC of "
                                      "model.interctc_layers; 0: off")

    def __post_init__(self) -> None:
        if self.cr_ctc_weight < 0 or not 0 <= self.interctc_weight < 1:
            raise ValueError(f"loss.cr_ctc_weight must be >= 0 (got {self.cr_ctc_weight:g}) "
                             f"and loss.interctc_weight in [0, 1) (got "
                             f"{self.interctc_weight:g})")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = doc(10, "passes over the training data")
    seed: int = doc(0, "every RNG is derived from (seed, epoch, rank)")
    clip_grad_norm: float = doc(5.0, "max global gradient norm (clip_grad_norm_)")
    accum_grad: int = doc(1, "batches whose gradients are summed into one optimizer step")
    amp: Literal["none", "bf16", "fp16"] = doc("none", "autocast dtype; fp16 adds a GradScaler")
    log_interval: int = doc(20, "optimizer steps between TensorBoard points")
    log_batches: bool = doc(False, "write every consumed batch's utterance ids to log/batches.txt")
    save_every_steps: int = doc(0, "also checkpoint every N optimizer steps (0: epoch ends only)")
    keep_last: int = doc(5, "epoch checkpoints kept")
    keep_best: int = doc(1, "epoch checkpoints of lowest dev loss kept besides the last ones")
    keep_last_steps: int = doc(2, "every-N-steps checkpoints kept")
    average_last: int = doc(1, "final.pt averages the last N epoch checkpoints")
    max_consecutive_skips: int = doc(20, "non-finite steps in a row before training aborts")
    device: Literal["auto", "cpu", "cuda"] = doc("auto", "auto: CUDA when present")
    num_threads: int = doc(0, "torch CPU threads; 0 keeps torch's default")
    init_from: str = doc("", "a model file (another exp's final.pt or checkpoint) whose "
                             "parameters of the same name and shape start a new run "
                             "(ESPnet's --init_param); a resumed run ignores it")
    collective_timeout_s: float = doc(600.0, "DDP: seconds a collective (all-reduce, barrier) "
                                             "waits for every rank before the job fails; "
                                             "longer than the slowest step or checkpoint save")

    def __post_init__(self) -> None:
        if self.collective_timeout_s <= 0:
            raise ValueError("collective_timeout_s must be positive")
        if min(self.epochs, self.keep_last, self.average_last, self.accum_grad,
               self.log_interval, self.max_consecutive_skips) < 1:
            raise ValueError("epochs, keep_last, average_last, accum_grad, log_interval and "
                             "max_consecutive_skips must be >= 1")
        if min(self.save_every_steps, self.keep_best, self.keep_last_steps) < 0:
            raise ValueError("save_every_steps, keep_best and keep_last_steps must be >= 0")
        if self.average_last > self.keep_last:
            raise ValueError(f"train.average_last is {self.average_last} but train.keep_last is "
                             f"{self.keep_last}: average_last cannot exceed keep_last (averaged "
                             f"checkpoints must still exist); set train.keep_last >= "
                             f"{self.average_last} or train.average_last <= {self.keep_last}")
        if self.average_last > self.epochs:
            raise ValueError(f"train.average_last is {self.average_last} but train.epochs is "
                             f"{self.epochs}: a run makes one epoch checkpoint per epoch; set "
                             f"train.average_last <= {self.epochs} (e.g. "
                             f"train.average_last={self.epochs} beside train.epochs="
                             f"{self.epochs}) or train.epochs >= {self.average_last}")
        if self.save_every_steps and not self.keep_last_steps:
            raise ValueError(f"train.save_every_steps is {self.save_every_steps} but "
                             "train.keep_last_steps is 0: every step checkpoint would be "
                             "deleted as soon as it is written; set train.keep_last_steps >= 1, "
                             "or train.save_every_steps: 0 for epoch checkpoints only")


@dataclass(frozen=True)
class RunConfig:
    """How an exp dir was made: filled in by ``asr train``, never read back as settings."""

    train_dir: str = doc("", "the training data dir (absolute)")
    dev_dir: str = doc("", "the dev data dir (absolute)")
    lang_dir: str = doc("", "the lang dir (absolute)")
    command: str = doc("", "the asr train command line")
    code_revision: str = doc("", "git commit of the asr code (+dirty), or the package version")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything ``asr train`` needs; written fully resolved to exp/config.yaml."""

    data: DataConfig = field(default_factory=DataConfig)
    specaug: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if bool(self.loss.interctc_weight) != bool(self.model.interctc_layers):
            raise ValueError(f"loss.interctc_weight is {self.loss.interctc_weight:g} and "
                             f"model.interctc_layers is {list(self.model.interctc_layers)}: "
                             "intermediate CTC needs both (a weight > 0 and the layers), or "
                             "neither")
        if self.loss.cr_ctc_weight and not self.specaug.enabled:
            raise ValueError("loss.cr_ctc_weight needs specaug.enabled: CR-CTC's two views of "
                             "an utterance differ by their SpecAugment masks")
        if self.specaug.enabled and self.specaug.start_epoch > self.train.epochs:
            raise ValueError(f"specaug.start_epoch is {self.specaug.start_epoch} but "
                             f"train.epochs is {self.train.epochs}: SpecAugment would never "
                             "run; lower it, or set specaug.enabled: false")
        start, epochs = self.data.augment.start_epoch, self.train.epochs
        if self.data.augment.active and start > epochs:
            raise ValueError(f"data.augment.start_epoch is {start} but train.epochs is {epochs}: "
                             "augmentation would never run; set data.augment.start_epoch <= "
                             f"{epochs}, train.epochs >= {start}, or every data.augment prob "
                             "to 0")
