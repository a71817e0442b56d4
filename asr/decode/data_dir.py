"""Batched decoding of a data dir with an experiment's model.

Features come from the data dir's feats.scp when present (checked against the exp's
feature config), otherwise they are computed from wav.scp with the exp's own config.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from asr.data.cmvn import Normalizer
from asr.data.features import FEATS_CONFIG, audio_fbank, read_feats_config, utterance_features
from asr.data.kaldi_dir import DataDir
from asr.data.tokenizer import SPACE, UNK
from asr.decode.vocabulary import vocabulary_search
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.functional.ctc_search import ctc_greedy_search, ctc_prefix_beam_search
from asr.nn.model import CTCModel

log = logging.getLogger(__name__)


@dataclass
class DecodeResult:
    hyps: dict[str, str]
    audio_seconds: float
    decode_seconds: float

    @property
    def rtf(self) -> float:
        return self.decode_seconds / max(1e-9, self.audio_seconds)


def feature_reader(exp: Experiment, data_dir: Path, allow_resample: bool,
                   fds: dict | None = None, allow_pipes: bool = True
                   ) -> tuple[list[str], Callable[[str], np.ndarray]]:
    """Utterance ids of ``data_dir`` and a function returning each one's raw features;
    ``fds`` keeps the arks open between reads (the caller closes them)."""
    d = DataDir.load(data_dir, allow_pipes)
    if d.feats_scp is not None and (Path(data_dir) / FEATS_CONFIG).is_file() \
            and read_feats_config(data_dir) != exp.feats:
        raise AsrError(f"{data_dir}/feats.scp was made with other fbank options than "
                       f"{exp.path}/{FEATS_CONFIG}; remove it to compute features from audio")
    return d.utt_ids, utterance_features(d, exp.feats, allow_resample, fds)


Search = Callable[[torch.Tensor, torch.Tensor], list[list[int]]]  # (N, T, V), (N,) -> ids


def make_search(exp: Experiment, method: str = "greedy", beam: int = 10,
                token_topk: int | None = None, lm: Path | None = None, lm_weight: float = 0.5,
                lm_bonus: float = 0.0, lm_level: Literal["word", "token"] = "word",
                vocabulary: Path | None = None, vocabulary_prior: bool = False) -> Search:
    """The search that turns log-probs into token ids: greedy, prefix beam with an
    optional ARPA LM fused at word or token level, or the best entry of a closed
    ``vocabulary`` file (with its frequencies as prior when ``vocabulary_prior``)."""
    if (method == "vocabulary") != (vocabulary is not None):
        raise AsrError("--method vocabulary and --vocabulary FILE go together")
    if method == "vocabulary":
        if lm is not None:
            raise AsrError("--method vocabulary takes no --lm (use --vocabulary-prior)")
        return vocabulary_search(vocabulary, exp.tokenizer, vocabulary_prior)
    if method == "greedy":
        if lm is not None:
            raise AsrError("an LM needs --method prefix_beam")
        return ctc_greedy_search
    if method != "prefix_beam":
        raise AsrError(f"unknown search method '{method}' (greedy, prefix_beam or "
                       "vocabulary)")
    if beam < 1 or (token_topk is not None and token_topk < 1):
        raise AsrError(f"--beam and --token-topk must be >= 1, got {beam} and {token_topk}")
    fusion = None
    if lm is not None:  # imported here: the compiled search is not needed for greedy
        from asr.lm.arpa import read_arpa
        from asr.lm.fusion import build_fusion

        fusion = build_fusion(read_arpa(lm), exp.tokenizer.tokens, lm_weight, lm_bonus,
                              lm_level, word_start=SPACE, unk=UNK)
    return partial(ctc_prefix_beam_search, beam_size=beam, token_topk=token_topk, lm=fusion)


@torch.no_grad()
def decode_features(model: CTCModel, feats: dict[str, torch.Tensor], normalize: Normalizer,
                    search: Search, max_frames: int = 20000, device: str = "cpu"
                    ) -> dict[str, list[int]]:
    """Token ids per utterance, in length-sorted batches of at most ``max_frames`` padded
    frames (so short utterances are not padded to long ones)."""
    order = sorted(feats, key=lambda u: feats[u].shape[0])
    hyps: dict[str, list[int]] = {}
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
        hyps.update(zip(batch, search(log_probs, out_lens), strict=True))
        start = end
    return hyps


def _decode(exp: Experiment, model: CTCModel, raw: dict[str, np.ndarray], normalize: Normalizer,
            search: Search, max_frames: int, device: str, t0: float) -> DecodeResult:
    feats = {u: torch.from_numpy(m) for u, m in raw.items()}
    ids = decode_features(model, feats, normalize, search, max_frames, device)
    hyps = {u: exp.tokenizer.decode(ids[u]) for u in raw}
    audio = sum(f.shape[0] for f in feats.values()) * exp.feats.frame_shift_ms / 1000
    return DecodeResult(hyps, audio, time.time() - t0)


def decode_data_dir(exp: Experiment, data_dir: Path, checkpoint: str | None = None,
                    search: Search = ctc_greedy_search, max_frames: int = 20000,
                    device: str = "cpu", allow_resample: bool = False,
                    allow_pipes: bool = True) -> DecodeResult:
    """Decode every utterance of a Kaldi data dir (features and CMVN as the exp says);
    without ``allow_pipes`` a data dir with ``cmd |`` entries is refused before reading."""
    fds: dict = {}
    utt_ids, read = feature_reader(exp, data_dir, allow_resample, fds, allow_pipes)
    model = exp.load_model(checkpoint, device)
    t0 = time.time()
    try:
        raw = {u: read(u).astype(np.float32) for u in utt_ids}
    finally:
        for f in fds.values():
            f.close()
    return _decode(exp, model, raw, exp.normalizer(data_dir, raw.items()), search, max_frames,
                   device, t0)


def transcribe_files(exp: Experiment, paths: list[Path], checkpoint: str | None = None,
                     search: Search = ctc_greedy_search, device: str = "cpu",
                     allow_resample: bool = False) -> DecodeResult:
    """Decode audio files; hyps are keyed by the path as given. Per-speaker CMVN treats
    each file as its own speaker, as Kaldi does without an utt2spk. The paths are files,
    never ``cmd |`` pipes: a file name ending in '|' (from a glob, say) must not run."""
    model = exp.load_model(checkpoint, device)
    t0 = time.time()
    raw = {}
    for path in paths:
        raw[str(path)] = audio_fbank(str(path), str(path), exp.feats, allow_resample,
                                     allow_pipes=False)[0]
    return _decode(exp, model, raw, exp.normalizer(None, raw.items()), search, 20000, device, t0)
