"""The JSON written beside every exported model: what a runtime we did not write needs to
feed it (features, CMVN) and to read it (tokens, blank, word separator)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from asr.atomic_io import atomic_write
from asr.data.cmvn import GlobalCmvn, OnlineCmvn
from asr.data.cmvn_stats import SILENCE_MARGIN, load_stats
from asr.data.features import log_noise_floor
from asr.data.tokenizer import SPACE
from asr.exp.experiment import Experiment
from asr.exp.layout import CMVN

# how a runtime computes each kind of CMVN that needs more than fixed stats
CMVN_HOW = {
    "speaker": "per speaker: mean (and std with norm_vars) over the speaker's speech frames "
               "(those whose log-mel energies exceed speech_floor by speech_margin or more "
               "on average over the bins), all frames when none is speech; x -> (x - mean) "
               "/ std. A file of unknown speaker: its own stats topped up to prior_frames "
               "frames with training_stats",
    "utterance": "per utterance: mean (and std with norm_vars) over its speech frames (as "
                 "for speaker), all frames when none is speech; x -> (x - mean) / std",
}


def cmvn_metadata(exp: Experiment) -> dict | None:
    """The exp's CMVN as a runtime applies it: global stats, online's formula inputs, or
    the recipe for per-speaker and per-utterance stats; None for data.cmvn: none."""
    data = exp.config.data
    if data.cmvn == "none":
        return None
    if data.cmvn in ("global", "online"):
        norm = exp.normalizer()
        if isinstance(norm, GlobalCmvn):
            return {"type": "global", "mean": norm.mean.tolist(),
                    "inv_std": norm.inv_std.tolist()}
        assert isinstance(norm, OnlineCmvn)  # docs/streaming.md has the formula
        return {"type": "online", "window": norm.window, "prior_frames": norm.prior_frames,
                "norm_vars": norm.norm_vars, "prior_mean": norm.prior[0].tolist(),
                "prior_mean_square": norm.prior[1].tolist(),
                "speech_floor": None if norm.floor is None else norm.floor.tolist(),
                "speech_margin": SILENCE_MARGIN}
    floor = log_noise_floor(exp.feats)
    meta = {"type": data.cmvn, "how": CMVN_HOW[data.cmvn], "norm_vars": data.norm_vars,
            "speech_floor": None if floor is None else floor.tolist(),
            "speech_margin": SILENCE_MARGIN, "prior_frames": data.cmvn_prior_frames}
    if (exp.path / CMVN).is_file():
        stats = load_stats(exp.path / CMVN)
        count = stats[0, -1]
        meta["training_stats"] = {"mean": (stats[0, :-1] / count).tolist(),
                                  "mean_square": (stats[1, :-1] / count).tolist(),
                                  "frames": int(count)}
    return meta


def export_metadata(exp: Experiment, fmt: str, extra: dict | None = None) -> dict:
    """What every export's JSON holds; ``extra`` adds the export's own keys (its inputs,
    outputs, chunking)."""
    return {"format": fmt, "encoder": exp.config.model.encoder.type,
            "vocab_size": exp.tokenizer.vocab_size, "blank": 0,
            "features": dataclasses.asdict(exp.feats), "cmvn": cmvn_metadata(exp),
            "tokens": list(exp.tokenizer.tokens), "word_separator": SPACE, **(extra or {})}


def write_metadata(out: Path, meta: dict) -> Path:
    """``meta`` as JSON beside the model file ``out`` (same name, .json); returns its path."""
    path = Path(out).with_suffix(".json")
    text = json.dumps(meta, indent=1, ensure_ascii=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path
