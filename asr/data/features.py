"""Kaldi-compatible fbank: compute one utterance, or a whole data dir into ark/scp with
``nj`` parallel jobs over splits.

Each split writes its own ark (temp name, renamed when complete), then its info file, then
its scp: a split whose scp exists is finished, so a killed stage resumes by redoing only
the unfinished splits. DATA_DIR/feats.scp is merged last, so its presence means the whole
stage completed (with utt2num_frames, utt2dur and feats.yaml in place).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch

from asr.atomic_io import atomic_write_text
from asr.config import config_from_dict, dump_config
from asr.config.schema import FbankConfig
from asr.data import kaldi_fbank
from asr.data.ark import read_matrix, write_ark_scp
from asr.data.audio import load_audio, resample
from asr.data.kaldi_dir import FEATS_CONFIG, DataDir, format_seconds, read_kv, write_kv
from asr.errors import DataError

log = logging.getLogger(__name__)

# frames of fbank computed at once (10 minutes of 10 ms frames): bounds the spectra in memory
FBANK_PIECE_FRAMES = 60_000


def at_feature_rate(samples: torch.Tensor, rate: int, cfg: FbankConfig, utt_id: str,
                     allow_resample: bool, allow_short: bool = False) -> torch.Tensor:
    """``samples`` at cfg.sample_rate (resampled only when allowed), at least one frame
    (shorter is an error naming the utterance, or returned as is with ``allow_short``)."""
    if rate != cfg.sample_rate:
        if not allow_resample:
            raise DataError(f"utterance '{utt_id}': audio is {rate} Hz but the features are "
                            f"configured for {cfg.sample_rate} Hz (resample it, or pass "
                            "--allow-resample where the command offers it)")
        samples = resample(samples, rate, cfg.sample_rate)
    window = int(cfg.sample_rate * cfg.frame_length_ms / 1000)
    if samples.numel() < window and not allow_short:
        raise DataError(f"utterance '{utt_id}': {samples.numel()} samples is shorter than one "
                        f"{cfg.frame_length_ms} ms frame")
    return samples


def compute_fbank(samples: torch.Tensor, rate: int, cfg: FbankConfig, utt_id: str = "?",
                  allow_resample: bool = False, vtln_warp: float = 1.0,
                  allow_short: bool = False) -> torch.Tensor:
    """Log mel filterbank of mono ``samples`` (S,) in int16 scale -> (T, num_mel_bins);
    ``vtln_warp`` != 1 warps the filterbank's frequency axis (Kaldi's VTLN, used for VTLP).
    Audio shorter than one frame is an error, or (0, num_mel_bins) with ``allow_short``
    (decoding: an empty hypothesis rather than no result for the whole set)."""
    samples = at_feature_rate(samples, rate, cfg, utt_id, allow_resample, allow_short)
    if num_frames(samples.numel(), cfg) == 0:
        log.warning("utterance '%s': %d samples make no %g ms frame: no features", utt_id,
                    samples.numel(), cfg.frame_length_ms)
        return torch.zeros(0, cfg.num_mel_bins)
    return torch.cat([p.features for p in fbank_pieces(samples, cfg, vtln_warp)])


def fbank_pieces(samples: torch.Tensor, cfg: FbankConfig, vtln_warp: float = 1.0
                 ) -> Iterator[kaldi_fbank.FbankPiece]:
    """Kaldi fbank of ``samples`` (S,) at cfg.sample_rate, FBANK_PIECE_FRAMES frames at a
    time where frames are independent (snip_edges: each frame its own samples; a run of
    digital silence carried across pieces), so an hour's recording never holds more than
    one piece's spectra (the whole took 1.5 GB more at 8 kHz); the frames are those of the
    whole up to float rounding, the kept ones the same. Shorter audio is one piece."""
    samples = samples.to(torch.float32)
    total = num_frames(samples.numel(), cfg)
    step = FBANK_PIECE_FRAMES if cfg.snip_edges else max(1, total)
    shift = int(cfg.sample_rate * cfg.frame_shift_ms / 1000)
    window = int(cfg.sample_rate * cfg.frame_length_ms / 1000)
    run = 0
    for first in range(0, total, step):
        last = min(total, first + step)
        piece = samples[first * shift:(last - 1) * shift + window] if cfg.snip_edges \
            else samples
        out = kaldi_fbank.fbank_piece(
            piece, cfg.sample_rate, cfg.num_mel_bins, cfg.frame_length_ms, cfg.frame_shift_ms,
            cfg.dither, cfg.preemphasis, cfg.low_freq, cfg.high_freq, cfg.snip_edges,
            vtln_warp, cfg.noise_floor, cfg.silence_frames, run)
        run = out.silent_run
        yield out


def num_frames(num_samples: int, cfg: FbankConfig) -> int:
    """Frames Kaldi's fbank makes from ``num_samples`` at cfg.sample_rate (its own formula)."""
    window = int(cfg.sample_rate * cfg.frame_length_ms / 1000)
    shift = int(cfg.sample_rate * cfg.frame_shift_ms / 1000)
    if cfg.snip_edges:
        return 0 if num_samples < window else 1 + (num_samples - window) // shift
    return (num_samples + shift // 2) // shift


def audio_fbank(rx: str, utt: str, cfg: FbankConfig, allow_resample: bool = False,
                start: float = 0.0, end: float = -1.0, allow_pipes: bool = True,
                allow_short: bool = False, channel: int | None = None
                ) -> tuple[np.ndarray, float]:
    """(features (T, D) float32, duration in seconds) of audio at ``rx`` (a wav.scp value
    or a file path), cut to [start, end) seconds; ``channel`` picks one of several."""
    samples, rate = load_audio(rx, utt, start, end, allow_pipes, channel=channel)
    feats = compute_fbank(samples, rate, cfg, utt, allow_resample,
                          allow_short=allow_short).numpy()
    return feats.astype(np.float32, copy=False), samples.numel() / rate


def utterance_fbank(d: DataDir, utt: str, cfg: FbankConfig, allow_resample: bool = False,
                    allow_short: bool = False) -> tuple[np.ndarray, float]:
    """(features (T, D) float32, duration in seconds) of one utterance of a data dir."""
    rx, start, end = d.audio_of(utt)
    return audio_fbank(rx, utt, cfg, allow_resample, start, end, allow_short=allow_short)


def read_feats_config(data_dir: Path) -> FbankConfig:
    """The fbank options in DATA_DIR/feats.yaml (written by 'asr fbank'), checked."""
    import yaml

    path = Path(data_dir) / FEATS_CONFIG
    if not Path(data_dir).is_dir():
        raise DataError(f"data dir not found: {data_dir}")
    if not path.is_file():
        raise DataError(f"{path}: missing, so the features of {data_dir} are unknown; run "
                        f"'asr fbank {data_dir}' (or 'asr fbank --on-the-fly {data_dir}')")
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a valid feats.yaml: {e}; re-run 'asr fbank --force "
                        f"{data_dir}'") from None
    if data is not None and not isinstance(data, dict):
        raise DataError(f"{path}: expected a mapping of fbank options, got "
                        f"{type(data).__name__}; re-run 'asr fbank --force {data_dir}'")
    data = dict(data or {})
    # feats.yaml written before these keys existed describes Kaldi-exact features: keep
    # them so (an old exp dir decodes as it did), rather than take today's defaults
    data.setdefault("noise_floor", 0.0)
    data.setdefault("silence_frames", -1)
    return config_from_dict(FbankConfig, data, str(path))


def log_noise_floor(cfg: FbankConfig) -> np.ndarray | None:
    """(num_mel_bins,) the features of digital silence (log of the noise floor's mel
    energies, unwarped), or None when cfg has no noise floor (Kaldi-exact features)."""
    if cfg.noise_floor <= 0:
        return None
    size = int(cfg.sample_rate * cfg.frame_length_ms * 0.001)
    fft_size = 2 ** (size - 1).bit_length()
    banks = kaldi_fbank.mel_filterbank(cfg.num_mel_bins, fft_size, cfg.sample_rate,
                                       cfg.low_freq, cfg.high_freq)
    energies = kaldi_fbank.noise_floor_energies(cfg.noise_floor, size, fft_size,
                                                cfg.preemphasis, banks)
    return energies.log().numpy().astype(np.float64)


@dataclass(frozen=True)
class _Split:
    """One job: its utterances and output files (ark, scp, and info = frames and seconds)."""

    audio: tuple[tuple[str, str, float, float], ...]  # (utt, wav.scp value, start, end)
    ark: Path
    scp: Path
    info: Path

    @property
    def utts(self) -> tuple[str, ...]:
        return tuple(a[0] for a in self.audio)


def _run_split(split: _Split, cfg: FbankConfig, allow_resample: bool, compress: int | None,
               write_feats: bool) -> None:
    """Compute one split; its scp (or, without features, its info file) is written last."""
    torch.set_num_threads(1)  # nj processes share the cores; one thread each avoids contention
    info: dict[str, str] = {}

    def features():
        for utt, rx, start, end in split.audio:
            feats, seconds = audio_fbank(rx, utt, cfg, allow_resample, start, end)
            info[utt] = f"{feats.shape[0]} {format_seconds(seconds)}"
            yield utt, feats

    if write_feats:
        tmp_scp = split.scp.with_name(split.scp.name + ".partial")
        write_ark_scp(split.ark, tmp_scp, features(), compress)
    else:  # on the fly later: only the frame counts, from Kaldi's formula
        for utt, rx, start, end in split.audio:
            samples, rate = load_audio(rx, utt, start, end)
            at_rate = at_feature_rate(samples, rate, cfg, utt, allow_resample)
            info[utt] = f"{num_frames(at_rate.numel(), cfg)} " \
                        f"{format_seconds(samples.numel() / rate)}"
    write_kv(split.info, info)
    if write_feats:
        os.replace(tmp_scp, split.scp)


def _done(split: _Split, write_feats: bool) -> bool:
    last = split.scp if write_feats else split.info
    return last.is_file() and split.info.is_file() and \
        tuple(sorted(read_kv(split.info))) == split.utts


def _run_splits(todo: list[_Split], args: list[tuple], nj: int) -> None:
    """Run :func:`_run_split` on each of ``args``: in processes when there are several."""
    if len(todo) > 1:
        # spawn, not fork: a forked child can deadlock in torch's thread pools; an executor,
        # not a Pool: a worker that dies fails the stage instead of hanging it
        with ProcessPoolExecutor(min(nj, len(todo)),
                                 mp_context=multiprocessing.get_context("spawn")) as ex:
            for job in [ex.submit(_run_split, *a) for a in args]:
                job.result()
    else:
        for a in args:
            _run_split(*a)


def write_data_dir_feats(data_dir: Path, cfg: FbankConfig, feats_dir: Path | None = None,
                         allow_resample: bool = False, nj: int = 1,
                         compress: int | None = None, write_feats: bool = True,
                         force: bool = False, allow_pipes: bool = True) -> int:
    """Compute fbank for every utterance of ``data_dir`` in ``nj`` processes; write
    feats.scp, utt2num_frames, utt2dur and feats.yaml; return the utterance count.

    ``compress`` is a kaldiio compression_method (2 = Kaldi's kSpeechFeature). Without
    ``write_feats`` only feats.yaml, utt2num_frames and utt2dur are written: the features
    are then computed on the fly during training (data.features: on_the_fly). ``force``
    redoes finished splits too. Without ``allow_pipes`` a ``cmd |`` entry is refused
    before any audio is read.
    """
    data_dir = Path(data_dir)
    d = DataDir.load(data_dir, allow_pipes)
    d.require("wav.scp")
    if nj < 1:
        raise DataError(f"--nj must be >= 1, got {nj}")
    feats_dir = Path(feats_dir or data_dir / "data").resolve()
    feats_dir.mkdir(parents=True, exist_ok=True)
    name = data_dir.name
    # a resumed run must use the same options, else earlier splits are stale
    job_spec = feats_dir / f"feats_{name}.job.yaml"
    spec = dump_config(cfg) + f"# nj={nj} compress={compress} write_feats={write_feats}\n"
    audio = [(u, *d.audio_of(u)) for u in d.utt_ids]
    splits = [_Split(tuple(audio[j::nj]), feats_dir / f"feats_{name}.{j + 1}.ark",
                     feats_dir / f"feats_{name}.{j + 1}.scp",
                     feats_dir / f"feats_{name}.{j + 1}.info") for j in range(nj)]
    if force or not job_spec.is_file() or job_spec.read_text() != spec:
        for s in splits:
            s.scp.unlink(missing_ok=True)
            s.info.unlink(missing_ok=True)
        atomic_write_text(job_spec, spec)
    todo = [s for s in splits if s.utts and not _done(s, write_feats)]
    if len(todo) < len(splits):
        log.info("%s: %d of %d splits already done, resuming", data_dir, nj - len(todo), nj)
    if todo:  # arks are about to change under the old feats.scp
        (data_dir / "feats.scp").unlink(missing_ok=True)
    args = [(s, cfg, allow_resample, compress, write_feats) for s in todo]
    try:
        _run_splits(todo, args, nj)
    except DataError:
        # nothing done: leave no trace (a kill, which skips this, leaves what a resume uses)
        if not any(_done(sp, write_feats) for sp in splits):
            job_spec.unlink(missing_ok=True)
            if not any(feats_dir.iterdir()):
                feats_dir.rmdir()
        raise
    frames, durs, scp = {}, {}, {}
    for s in splits:
        if not s.utts:
            continue
        for utt, v in read_kv(s.info).items():
            frames[utt], durs[utt] = v.split()
        if write_feats:
            scp.update(read_kv(s.scp))
    write_kv(data_dir / "utt2num_frames", frames)
    write_kv(data_dir / "utt2dur", durs)
    atomic_write_text(data_dir / FEATS_CONFIG, dump_config(cfg))
    if write_feats:
        write_kv(data_dir / "feats.scp", scp)  # last: its presence means the stage completed
    log.info("%s: %d utterances, %d jobs%s", data_dir, len(frames), nj,
             f", features in {feats_dir}" if write_feats else " (features on the fly)")
    return len(frames)


def utterance_features(d: DataDir, cfg: FbankConfig | None, allow_resample: bool = False,
                       fds: dict[str, IO[bytes]] | None = None, allow_short: bool = False
                       ) -> Callable[[str], np.ndarray]:
    """A reader of each utterance's raw features (T, D): from feats.scp, or computed from
    the audio with ``cfg`` when the dir has none (and ``cfg`` is given); ``allow_short``:
    see :func:`compute_fbank`."""
    if d.feats_scp is not None:
        scp = d.feats_scp
        return lambda utt: read_matrix(utt, scp[utt], fds)
    if cfg is None:
        d.require("feats.scp")
    return lambda utt: utterance_fbank(d, utt, cfg, allow_resample, allow_short)[0]
