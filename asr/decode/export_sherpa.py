"""An exp dir as sherpa-onnx runs it (``asr export --format sherpa-onnx``): its offline
CTC recognizer (``OfflineRecognizer``, model kind ``zipformer_ctc``) drives the model with
its own features, tokens and greedy search.

sherpa-onnx computes Kaldi fbank itself (kaldi-native-fbank, dither 0, samples in int16
scale, snip_edges as ours) and hands the model (N, T, D) log-mel frames and (N,) int64
lengths; it wants (N, T', V) log-probs and (N,) int64 lengths back, and finds the model
kind in the ONNX metadata (``model_type``). What our features add to Kaldi's goes into the
graph in front of the model: the noise floor (log(exp(x) + noise energies): what our
fbank adds before the log) and the CMVN: global, per-utterance or online (a running window
over the utterance so far). Per-speaker CMVN (stats of a speaker's other utterances) has
no place there: such an exp is refused with the fix. fbank's digital-silence cut does not
happen in sherpa-onnx: audio with runs of exact zeros longer than ``silence_frames`` gives
the model frames it did not see in training (docs/decoding.md, "sherpa-onnx").
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from asr.atomic_io import atomic_write, atomic_write_text
from asr.data.audio_formats import INT16_SCALE
from asr.data.cmvn import GlobalCmvn, OnlineCmvn, UtteranceCmvn
from asr.data.cmvn_stats import SILENCE_MARGIN
from asr.data.features import log_noise_floor
from asr.data.kaldi_fbank import LOG_ENERGY_FLOOR
from asr.data.tokenizer import BLANK
from asr.decode.export import export_onnx, quantize_int8
from asr.decode.sherpa_readme import readme
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.nn.model import CTCModel

MODEL, MODEL_INT8, TOKENS, CONFIG, README = ("model.onnx", "model.int8.onnx", "tokens.txt",
                                             "sherpa_onnx.json", "README.md")
# kaldi-native-fbank's fixed framing in sherpa-onnx (its FeatureExtractorConfig cannot set it)
SHERPA_FRAMING = {"frame_length_ms": 25.0, "frame_shift_ms": 10.0, "preemphasis": 0.97}


class GlobalNorm(nn.Module):
    """Global CMVN in the graph: x (N, T, D) -> (x - mean) / std with the training stats."""

    def __init__(self, cmvn: GlobalCmvn):
        super().__init__()
        self.register_buffer("scale", cmvn.inv_std.clone())
        self.register_buffer("bias", cmvn.bias.clone())

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.bias


def frames_that_count(x: torch.Tensor, x_lens: torch.Tensor, floor: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(valid, speech) (N, T) bool of a padded batch x (N, T, D): the frames within each
    length, and those of them over the noise ``floor`` by SILENCE_MARGIN (as
    :func:`asr.data.cmvn_stats.speech_mask`; every valid frame when ``floor`` is empty)."""
    valid = torch.arange(x.shape[1], device=x.device)[None, :] < x_lens[:, None]
    if not floor.numel():
        return valid, valid
    return valid, valid & ((x - floor).mean(dim=-1) >= SILENCE_MARGIN)


class UtteranceNorm(nn.Module):
    """Per-utterance CMVN in the graph, as :class:`asr.data.cmvn.UtteranceCmvn` does it on
    each utterance of a padded batch x (N, T, D): mean (and std) over its speech frames
    (mean bin over the noise ``floor`` by SILENCE_MARGIN), over all its frames when none
    is speech; padding never counts."""

    def __init__(self, floor: torch.Tensor | None, norm_vars: bool, var_floor: float = 1e-10):
        super().__init__()
        self.register_buffer("floor", floor if floor is not None else torch.zeros(0))
        self.norm_vars, self.var_floor = norm_vars, var_floor

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
        valid, speech = frames_that_count(x, x_lens, self.floor)
        # speech frames, or every frame where none is (logic ops: onnxruntime has no Where
        # for bool tensors)
        use = speech | (valid & ~speech.any(dim=1, keepdim=True))
        w = use.to(x.dtype)[..., None]  # (N, T, 1)
        count = w.sum(dim=1, keepdim=True).clamp_min(1.0)
        mean = (x * w).sum(dim=1, keepdim=True) / count
        out = x - mean
        if self.norm_vars:
            var = (out * out * w).sum(dim=1, keepdim=True) / count
            scale = var.clamp_min(self.var_floor).rsqrt()
            out = out * torch.where(count > 1, scale, torch.ones_like(scale))
        return out


class OnlineNorm(nn.Module):
    """Online CMVN in the graph, as :class:`asr.data.cmvn.OnlineCmvn` computes it over a
    whole utterance of a padded batch x (N, T, D): frame t normalized by the speech frames
    among the last ``window`` up to t, topped up with the training stats to
    ``prior_frames``. Prefix sums in float64, as ours are."""

    def __init__(self, cmvn: OnlineCmvn):
        super().__init__()
        prior = torch.tensor(cmvn.prior, dtype=torch.float64)  # (2, D): E[x], E[x^2]
        self.register_buffer("prior", prior)
        floor = cmvn.floor
        self.register_buffer("floor", torch.tensor(floor, dtype=torch.float32)
                             if floor is not None else torch.zeros(0))
        self.window, self.prior_frames = cmvn.window, float(cmvn.prior_frames)
        self.norm_vars, self.var_floor = cmvn.norm_vars, cmvn.var_floor

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
        w = frames_that_count(x, x_lens, self.floor)[1].to(torch.float64)[..., None]
        xd = x.to(torch.float64)
        sums = torch.cumsum(torch.cat([xd * w, xd * xd * w, w], dim=-1), dim=1)
        # the sums of the frames before each window: the prefix sums `window` frames back
        before = nn.functional.pad(sums, (0, 0, self.window, 0))[:, :x.shape[1]]
        return self.normalized(xd, sums - before).to(x.dtype)

    def normalized(self, xd: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
        """Frames xd (..., D) float64 by their windows' speech-frame sums win (..., 2 D + 1):
        sum x, sum x^2, count), topped up with the training stats to ``prior_frames``."""
        d = xd.shape[-1]
        s1, s2, n = win[..., :d], win[..., d:2 * d], win[..., 2 * d:]
        short = (self.prior_frames - n).clamp_min(0.0)
        s1, s2 = s1 + short * self.prior[0], s2 + short * self.prior[1]
        n_eff = (n + short).clamp_min(1.0)
        mean = s1 / n_eff
        out = xd - mean
        if self.norm_vars:
            out = out / (s2 / n_eff - mean * mean).clamp_min(self.var_floor).sqrt()
        return out


def with_noise_floor(x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """sherpa-onnx's log-mel x (..., D) with the noise energies (D,) our fbank adds before
    the log; x as it is when ``noise`` is empty (Kaldi-exact features)."""
    return torch.log(torch.exp(x) + noise) if noise.numel() else x


def graph_cmvn(exp: Experiment) -> nn.Module | None:
    """The exp's CMVN as a module of the offline graph, (x (N, T, D), x_lens (N,)) ->
    (N, T, D); None without CMVN. Per-speaker CMVN is refused before (sherpa_refusal)."""
    cmvn = exp.normalizer()
    if isinstance(cmvn, GlobalCmvn):
        return GlobalNorm(cmvn)
    if isinstance(cmvn, OnlineCmvn):
        return OnlineNorm(cmvn)
    if isinstance(cmvn, UtteranceCmvn):
        floor = None if cmvn.floor is None else torch.tensor(cmvn.floor, dtype=torch.float32)
        return UtteranceNorm(floor, cmvn.norm_vars, cmvn.var_floor)
    return None


# log-mel of samples in [-1, 1] (sherpa-onnx's normalize_samples) + this = of int16 samples
INT16_LOG_SHIFT = 2 * math.log(INT16_SCALE)
# a floored log mel energy, with a margin for rounding
FLOORED = LOG_ENERGY_FLOOR + 1e-3


class SherpaOfflineGraph(nn.Module):
    """sherpa-onnx's fbank frames x (N, T, D) and lengths (N,) int64 -> log-probs
    (N, T', V) and lengths (N,) int64: ``shift`` added (to bring features of [-1, 1]
    samples to our int16 scale, or 0), the exp's noise floor and CMVN (``norm``), then
    the model."""

    def __init__(self, model: CTCModel, noise: torch.Tensor | None, norm: nn.Module | None,
                 shift: float = 0.0):
        super().__init__()
        self.model, self.norm, self.shift = model, norm, shift
        self.register_buffer("noise", noise if noise is not None else torch.zeros(0))

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.shift:  # a frame of digital silence (every energy floored) stays floored,
            # as on int16 audio; a floored energy among others was likely just under the floor
            silent = (x <= FLOORED).all(dim=-1, keepdim=True)
            x = torch.where(silent, x, x + self.shift)
        x = with_noise_floor(x, self.noise)
        if self.norm is not None:
            x = self.norm(x, x_lens)
        log_probs, lens = self.model(x, x_lens)
        return log_probs, lens.to(torch.int64)


def sherpa_refusal(exp: Experiment, streaming: bool = False) -> str | None:
    """Why ``exp`` cannot run in sherpa-onnx as it is (its online recognizer when
    ``streaming``), with the fix; None when it can."""
    cmvn = exp.config.data.cmvn
    if streaming and cmvn in ("speaker", "utterance"):
        return (f"{exp.path}: data.cmvn is '{cmvn}', which needs audio that has not arrived "
                "when a stream starts; train with data.cmvn: global or online (either goes "
                "into the streaming graph), or export it offline (without --streaming)")
    if cmvn == "speaker":
        return (f"{exp.path}: data.cmvn is 'speaker', which sherpa-onnx's offline recognizer "
                "cannot apply (it runs one graph on the frames of one utterance); train with "
                "data.cmvn: global, utterance or online (each goes into the graph), or "
                "decode this exp with 'asr decode' / 'asr export --format onnx'")
    f = exp.feats
    for key, value in SHERPA_FRAMING.items():
        if getattr(f, key) != value:
            return (f"{exp.path}: fbank {key} is {getattr(f, key):g}, sherpa-onnx computes "
                    f"its features with {value:g}; train with fbank.{key}: {value:g}")
    if f.dither != 0 or f.energy_floor != 0:
        return f"{exp.path}: fbank dither and energy_floor must be 0 for sherpa-onnx"
    return None


def sherpa_feature_config(exp: Experiment, normalize_samples: bool = False) -> dict:
    """sherpa-onnx's ``FeatureExtractorConfig`` fields that give the exp's fbank (on
    samples in [-1, 1] with ``normalize_samples``, for a graph that shifts them back)."""
    f = exp.feats
    return {"sampling_rate": f.sample_rate, "feature_dim": f.num_mel_bins,
            "low_freq": f.low_freq, "high_freq": f.high_freq, "dither": 0.0,
            "normalize_samples": normalize_samples, "snip_edges": f.snip_edges}


def tokens_text(exp: Experiment) -> str:
    """tokens.txt: ``symbol id`` per line, blank first (named ``<blk>``, as sherpa-onnx
    looks for it)."""
    tokens = list(exp.tokenizer.tokens)
    if tokens[0] != BLANK:
        raise AsrError(f"{exp.path}: token 0 is '{tokens[0]}', not the blank")
    return "".join(f"{t} {i}\n" for i, t in enumerate(tokens))


def noise_energies(exp: Experiment) -> torch.Tensor | None:
    """The energies (D,) float32 of the fbank's noise floor; None for Kaldi-exact ones."""
    floor = log_noise_floor(exp.feats)
    return None if floor is None else torch.tensor(np.exp(floor), dtype=torch.float32)


def set_metadata(proto, entries: dict[str, object]) -> None:
    """Key-value strings into an ONNX ModelProto's metadata (where sherpa-onnx reads the
    model kind and its shapes)."""
    for key, value in entries.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)


def add_metadata(path: Path, entries: dict[str, object]) -> None:
    """:func:`set_metadata` on the ONNX file at ``path``, rewritten atomically."""
    import onnx

    proto = onnx.load(str(path))
    set_metadata(proto, entries)
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))


def write_export(exp: Experiment, out: Path, config: dict, quantize: str | None,
                 normalize_samples: bool = False) -> Path:
    """Beside OUT/model.onnx: model.int8.onnx (with ``quantize`` "int8"), tokens.txt,
    sherpa_onnx.json (``config`` plus the model files) and README.md; the JSON's path."""
    models = {"float": MODEL}
    if quantize == "int8":
        quantize_int8(out / MODEL, out / MODEL_INT8)
        models["int8"] = MODEL_INT8
    atomic_write_text(out / TOKENS, tokens_text(exp))
    config = {**config, "models": models, "tokens": TOKENS,
              "decoding_method": "greedy_search",
              "feat_config": sherpa_feature_config(exp, normalize_samples),
              "exp_dir": str(exp.path)}
    atomic_write_text(out / CONFIG, json.dumps(config, indent=2) + "\n")
    atomic_write_text(out / README, readme(config))
    return out / CONFIG


def export_sherpa_offline(exp: Experiment, model: CTCModel, out: Path,
                          quantize: str | None = None, normalize_samples: bool = False) -> Path:
    """OUT/model.onnx (and model.int8.onnx with ``quantize`` "int8"), tokens.txt,
    sherpa_onnx.json and README.md; returns the JSON's path. ``normalize_samples``: for
    sherpa-onnx's default of samples in [-1, 1]; the graph shifts the features back to
    the int16 scale. Near-exact only: kaldi-native-fbank floors mel energies at
    FLT_EPSILON, which on that scale is 2 ln 32768 higher, so the quietest frames differ."""
    refusal = sherpa_refusal(exp)
    if refusal:
        raise AsrError(refusal)
    out.mkdir(parents=True, exist_ok=True)
    noise, norm = noise_energies(exp), graph_cmvn(exp)
    export_onnx(model, exp.feats.num_mel_bins, out / MODEL,
                wrap=lambda net: SherpaOfflineGraph(net, noise, norm,
                                                    INT16_LOG_SHIFT if normalize_samples else 0.0),
                names={"input_names": ["x", "x_lens"],
                       "output_names": ["log_probs", "log_probs_len"]})
    add_metadata(out / MODEL, {"model_type": "zipformer2_ctc", "model_author": "asr",
                               "vocab_size": exp.tokenizer.vocab_size})
    return write_export(exp, out, {"recognizer": "OfflineRecognizer",
                                   "model_config": "zipformer_ctc"}, quantize,
                        normalize_samples)
