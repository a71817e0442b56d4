"""Kaldi-compatible fbank: compute one utterance, or a whole data dir into ark/scp.

feats.scp is put in place last, so a killed stage never leaves a feats.scp that points
into a partial ark or lacks its utt2num_frames and feats.yaml.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
import torchaudio.compliance.kaldi as kaldi
from tqdm import tqdm

from asr.config import config_from_dict, dump_config
from asr.data.ark import write_ark_scp
from asr.data.audio import load_audio, resample
from asr.data.kaldi_dir import DataDir, write_kv
from asr.errors import DataError
from asr.schema import FbankConfig
from asr.utils import atomic_write_text

log = logging.getLogger(__name__)
FEATS_CONFIG = "feats.yaml"


def compute_fbank(samples: torch.Tensor, rate: int, cfg: FbankConfig, utt_id: str = "?",
                  allow_resample: bool = False) -> torch.Tensor:
    """Log mel filterbank of mono ``samples`` (S,) in int16 scale -> (T, num_mel_bins)."""
    if rate != cfg.sample_rate:
        if not allow_resample:
            raise DataError(f"utterance '{utt_id}': audio is {rate} Hz but the features are "
                            f"configured for {cfg.sample_rate} Hz (resample it, or pass "
                            "--allow-resample where the command offers it)")
        samples = resample(samples, rate, cfg.sample_rate)
    window = int(cfg.sample_rate * cfg.frame_length_ms / 1000)
    if samples.numel() < window:
        raise DataError(f"utterance '{utt_id}': {samples.numel()} samples is shorter than one "
                        f"{cfg.frame_length_ms} ms frame")
    return kaldi.fbank(
        samples.unsqueeze(0),
        sample_frequency=cfg.sample_rate,
        num_mel_bins=cfg.num_mel_bins,
        frame_length=cfg.frame_length_ms,
        frame_shift=cfg.frame_shift_ms,
        dither=cfg.dither,
        preemphasis_coefficient=cfg.preemphasis,
        low_freq=cfg.low_freq,
        high_freq=cfg.high_freq,
        energy_floor=cfg.energy_floor,
        snip_edges=cfg.snip_edges,
    )


def read_feats_config(data_dir: Path) -> FbankConfig:
    import yaml

    path = Path(data_dir) / FEATS_CONFIG
    if not path.is_file():
        raise DataError(f"{path}: missing; the features of {data_dir} were not made by 'asr fbank'")
    return config_from_dict(FbankConfig, yaml.safe_load(path.read_text()) or {}, str(path))


def write_data_dir_feats(data_dir: Path, cfg: FbankConfig, feats_dir: Path | None = None,
                         allow_resample: bool = False) -> int:
    """Compute fbank for every utterance of ``data_dir``; write feats.scp etc.; return count."""
    data_dir = Path(data_dir)
    d = DataDir.load(data_dir)
    d.require("wav.scp")
    assert d.wav_scp is not None
    feats_dir = Path(feats_dir or data_dir / "data")
    frames: dict[str, str] = {}

    def features():
        for utt in tqdm(sorted(d.wav_scp), desc=f"fbank {data_dir}", unit="utt", mininterval=5):
            samples, rate = load_audio(d.wav_scp[utt], utt)
            feats = compute_fbank(samples, rate, cfg, utt, allow_resample).numpy()
            frames[utt] = str(feats.shape[0])
            yield utt, feats.astype(np.float32)

    ark = feats_dir / f"feats_{data_dir.name}.ark"
    tmp_scp = data_dir / ".feats.scp.partial"
    scp = write_ark_scp(ark, tmp_scp, features())
    write_kv(data_dir / "utt2num_frames", frames)
    atomic_write_text(data_dir / FEATS_CONFIG, dump_config(cfg))
    os.replace(tmp_scp, data_dir / "feats.scp")  # last: its presence means the stage completed
    log.info("wrote %d utterances to %s", len(scp), ark)
    return len(scp)
