"""CMVN statistics in Kaldi's format: accumulated over a data dir's features (speech
frames only, when a floor is given), per speaker, written and read as ark/scp.

Stats are a 2 x (D+1) float64 matrix: row 0 holds the per-dimension sums and the frame
count in the last column, row 1 the sums of squares (last column 0). A cmvn.ark written
by Kaldi's ``compute-cmvn-stats`` loads the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import kaldiio
import numpy as np

from asr.atomic_io import atomic_write
from asr.data.ark import write_ark_scp
from asr.data.features import (
    FEATS_CONFIG,
    log_noise_floor,
    read_feats_config,
    utterance_features,
)
from asr.data.kaldi_dir import DataDir, read_kv
from asr.errors import DataError

# A frame whose mel energies lie on average within 3 dB of the fbank's noise floor holds
# (nearly) nothing but the floor: digital silence, or a recording quieter than Kaldi's
# dither. Such frames are left out of CMVN stats, so that how much silence surrounds the
# speech cannot move the mean and variance that every other frame is normalized with.
SILENCE_MARGIN = math.log(2.0)


def speech_mask(feats: np.ndarray, floor: np.ndarray | None) -> np.ndarray | None:
    """(T,) bool: the frames of ``feats`` (T, D) above the noise ``floor`` (D,) by
    :data:`SILENCE_MARGIN`; None without a floor (Kaldi-exact features: every frame)."""
    if floor is None:
        return None
    return (np.asarray(feats, dtype=np.float64) - floor).mean(axis=1) >= SILENCE_MARGIN


class StatsAccumulator:
    """Kaldi CMVN stats of the speech frames added (:func:`speech_mask`); of all frames
    when none was speech (an all-silent speaker still gets finite stats)."""

    def __init__(self, floor: np.ndarray | None = None):
        self.floor = floor
        self.speech: np.ndarray | None = None
        self.every: np.ndarray | None = None

    def add(self, m: np.ndarray) -> None:
        m = np.asarray(m, dtype=np.float64)
        if self.every is None:
            self.every = np.zeros((2, m.shape[1] + 1), dtype=np.float64)
            self.speech = self.every.copy()
        _add_rows(self.every, m)
        mask = speech_mask(m, self.floor)
        _add_rows(self.speech, m if mask is None else m[mask])

    def stats(self) -> np.ndarray:
        """The 2 x (D+1) stats matrix."""
        if self.every is None:
            raise DataError("no features to accumulate CMVN stats from")
        return self.speech if self.speech[0, -1] > 0 else self.every


def _add_rows(stats: np.ndarray, m: np.ndarray) -> None:
    stats[0, :-1] += m.sum(axis=0)
    stats[1, :-1] += (m * m).sum(axis=0)
    stats[0, -1] += m.shape[0]


def accumulate(feats: Iterable[np.ndarray], floor: np.ndarray | None = None) -> np.ndarray:
    """Stats over every matrix (T, D) of ``feats``: their speech frames given a ``floor``."""
    acc = StatsAccumulator(floor)
    for m in feats:
        acc.add(m)
    return acc.stats()


def _data_dir_feats(data_dir: Path, allow_pipes: bool = True
                    ) -> tuple[DataDir, np.ndarray | None, Iterator[tuple[str, np.ndarray]]]:
    """Features of every utterance, and the noise floor of its feats.yaml: from feats.scp,
    or computed from audio with the options in feats.yaml when the dir is set up for
    on-the-fly features ('asr fbank --on-the-fly')."""

    d = DataDir.load(data_dir, allow_pipes)
    has_config = (Path(data_dir) / FEATS_CONFIG).is_file()
    cfg = read_feats_config(data_dir) if has_config else None
    on_the_fly = d.feats_scp is None and has_config
    fds: dict = {}
    read = utterance_features(d, cfg if on_the_fly else None, fds=fds)

    def feats() -> Iterator[tuple[str, np.ndarray]]:
        try:
            yield from ((u, read(u)) for u in d.utt_ids)
        finally:
            for f in fds.values():
                f.close()

    return d, log_noise_floor(cfg) if cfg is not None else None, feats()


def data_dir_stats(data_dir: Path, allow_pipes: bool = True) -> np.ndarray:
    """Global stats over every utterance of DATA_DIR (speech frames, when its features
    have a noise floor): its feats.scp matrices, or fbank computed from its audio with its
    feats.yaml when features are made on the fly."""
    _, floor, feats = _data_dir_feats(data_dir, allow_pipes)
    return accumulate((m for _, m in feats), floor)


def speaker_stats(feats: Iterable[tuple[str, np.ndarray]], utt2spk: Mapping[str, str] | None,
                  floor: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Stats per speaker (of speech frames, given a ``floor``); without utt2spk each
    utterance is its own speaker (as Kaldi)."""
    acc: dict[str, StatsAccumulator] = {}  # running sums: one matrix in memory at a time
    for utt, m in feats:
        spk = utt2spk[utt] if utt2spk is not None else utt
        acc.setdefault(spk, StatsAccumulator(floor)).add(m)
    return {spk: a.stats() for spk, a in acc.items()}


def write_speaker_stats(data_dir: Path, allow_pipes: bool = True) -> int:
    """DATA_DIR/cmvn.scp (speaker -> stats in data/cmvn_<dir>.ark), Kaldi's layout."""
    d, floor, feats = _data_dir_feats(data_dir, allow_pipes)
    stats = speaker_stats(feats, d.utt2spk, floor)
    ark = Path(data_dir) / "data" / f"cmvn_{Path(data_dir).name}.ark"
    write_ark_scp(ark, Path(data_dir) / "cmvn.scp", sorted(stats.items()))
    return len(stats)


def load_speaker_stats(data_dir: Path) -> dict[str, np.ndarray]:
    path = Path(data_dir) / "cmvn.scp"
    if not path.is_file():
        raise DataError(f"{path}: missing; run 'asr cmvn --per-speaker {data_dir}'")
    out = {}
    for spk, rx in read_kv(path, what="stats entry").items():
        try:
            out[spk] = np.asarray(kaldiio.load_mat(rx), dtype=np.float64)
        except Exception as e:
            raise DataError(f"{path}: speaker '{spk}': cannot read stats at '{rx}': {e}") \
                from None
    return out


def save_stats(path: Path, stats: np.ndarray) -> None:
    atomic_write(Path(path), lambda f: kaldiio.save_mat(f, stats))


def load_stats(path: Path) -> np.ndarray:
    try:
        stats = np.asarray(kaldiio.load_mat(str(path)), dtype=np.float64)
    except Exception as e:
        raise DataError(f"{path}: not a readable Kaldi CMVN stats matrix: {e}") from None
    if stats.ndim != 2 or stats.shape[0] != 2 or stats.shape[1] < 2 or stats[0, -1] < 1:
        raise DataError(f"{path}: expected a 2 x (D+1) CMVN stats matrix with a positive count, "
                        f"got shape {stats.shape}")
    return stats
