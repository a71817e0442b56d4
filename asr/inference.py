"""Batched decoding of a data dir with an experiment's model.

Features come from the data dir's feats.scp when present (checked against the exp's
feature config), otherwise they are computed from wav.scp with the exp's own config.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from asr.data.dataset import read_matrix
from asr.data.features import FEATS_CONFIG, read_feats_config, utterance_fbank
from asr.data.kaldi_dir import DataDir
from asr.errors import AsrError
from asr.exp_dir import Experiment
from asr.functional.ctc import ctc_greedy_search, ctc_prefix_beam_search

log = logging.getLogger(__name__)


@dataclass
class DecodeResult:
    hyps: dict[str, str]
    audio_seconds: float
    decode_seconds: float

    @property
    def rtf(self) -> float:
        return self.decode_seconds / max(1e-9, self.audio_seconds)


def feature_reader(exp: Experiment, data_dir: Path, allow_resample: bool
                   ) -> tuple[list[str], Callable[[str], np.ndarray]]:
    """Utterance ids of ``data_dir`` and a function returning each one's raw features."""
    d = DataDir.load(data_dir)
    if d.feats_scp is not None:
        if (Path(data_dir) / FEATS_CONFIG).is_file() and read_feats_config(data_dir) != exp.feats:
            raise AsrError(f"{data_dir}/feats.scp was made with other fbank options than "
                           f"{exp.path}/{FEATS_CONFIG}; remove it to compute features from audio")
        scp = d.feats_scp
        return d.utt_ids, lambda utt: read_matrix(utt, scp[utt])

    def from_audio(utt: str) -> np.ndarray:
        return utterance_fbank(d, utt, exp.feats, allow_resample)[0]

    return d.utt_ids, from_audio


@torch.no_grad()
def decode_data_dir(exp: Experiment, data_dir: Path, checkpoint: str | None = None,
                    method: str = "greedy", beam: int = 10, max_frames: int = 20000,
                    device: str = "cpu", allow_resample: bool = False) -> DecodeResult:
    model = exp.load_model(checkpoint, device)
    utt_ids, read = feature_reader(exp, data_dir, allow_resample)
    t0 = time.time()
    raw = {u: read(u).astype(np.float32) for u in utt_ids}
    normalize = exp.normalizer(data_dir, raw.items())
    feats = {u: torch.from_numpy(m) for u, m in raw.items()}
    order = sorted(utt_ids, key=lambda u: feats[u].shape[0])
    hyps: dict[str, str] = {}
    start = 0
    while start < len(order):
        end = start + 1
        longest = feats[order[start]].shape[0]
        while end < len(order) and max(longest, feats[order[end]].shape[0]) * (end - start + 1) \
                <= max_frames:
            longest = max(longest, feats[order[end]].shape[0])
            end += 1
        batch = order[start:end]
        xs = [normalize(feats[u], u) for u in batch]
        x = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True).to(device)
        lens = torch.tensor([f.shape[0] for f in xs], device=device)
        log_probs, out_lens = model(x, lens)
        if method == "greedy":
            ids = ctc_greedy_search(log_probs, out_lens)
        else:
            ids = ctc_prefix_beam_search(log_probs, out_lens, beam_size=beam)
        for u, seq in zip(batch, ids, strict=True):
            hyps[u] = exp.tokenizer.decode(seq)
        start = end
    elapsed = time.time() - t0
    shift = exp.feats.frame_shift_ms / 1000
    audio = sum(f.shape[0] for f in feats.values()) * shift
    return DecodeResult(hyps, audio, elapsed)
