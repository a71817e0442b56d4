"""Decoding audio files as they are (``asr transcribe``): each file its own utterance,
read whole, refused before reading when longer than the caller allows."""

from __future__ import annotations

import time
from pathlib import Path

import soundfile

from asr.data.audio import load_audio
from asr.data.features import audio_fbank
from asr.decode.batches import plan_batches
from asr.decode.data_dir import DecodeResult, SearchStep, decode_batches
from asr.decode.defaults import DEFAULT_MAX_FRAMES
from asr.decode.search import NbestSearch, Search
from asr.decode.silence_cuts import SilenceCuts
from asr.decode.timing import TimingSpec
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.functional.ctc_search import ctc_greedy_search


def check_duration(path: Path, max_seconds: float) -> None:
    """Refuse, before reading it, an audio file longer than ``max_seconds``: one piece of
    audio goes through the model at once, and its memory grows with the length
    (attention's quadratically)."""
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError):  # not readable by soundfile: load_audio says why
        return
    if max_seconds > 0 and info.duration > max_seconds:
        raise AsrError(f"{path}: {info.duration:.1f} s of audio, over the limit of "
                       f"--max-seconds {max_seconds:g} (a whole file goes through the model "
                       "at once, in memory that grows with its length): cut it at pauses "
                       "first (e.g. sox IN.wav OUT.wav trim 0 300 : newfile : restart), use "
                       "--streaming with a streaming model (bounded memory), or raise "
                       "--max-seconds if the memory is there")


def transcribe_files(exp: Experiment, paths: list[Path], checkpoint: str | None = None,
                     search: Search | NbestSearch = ctc_greedy_search, device: str = "cpu",
                     allow_resample: bool = False, one_speaker: bool = False,
                     max_seconds: float = 0.0, channel: int | None = None,
                     times: TimingSpec | None = None) -> DecodeResult:
    """Decode audio files; hyps are keyed by the path as given, and a file that cannot be
    read (or is too long) is in ``errors`` with the reason instead. The paths are files,
    never ``cmd |`` pipes: a file name ending in '|' (from a glob, say) must not run.

    Per-speaker CMVN: by default each file is its own speaker (Kaldi without an utt2spk),
    its statistics topped up with the exp's training statistics to data.cmvn_prior_frames
    frames, since a short file's own are too noisy to normalize it with; with
    ``one_speaker`` the files are one speaker's, pooled, as 'asr decode' does for a
    speaker of a data dir. Files longer than ``max_seconds`` (> 0) are refused;
    ``channel`` (0-based) picks one channel of multi-channel files (never a downmix);
    ``times`` adds word times and confidences to the hypotheses."""
    model = exp.load_model(checkpoint, device)
    t0 = time.time()
    raw, errors = {}, {}
    for path in paths:
        try:  # one unreadable file costs its own line, not the others'
            check_duration(path, max_seconds)
            raw[str(path)] = audio_fbank(str(path), str(path), exp.feats, allow_resample,
                                         allow_pipes=False, allow_short=True,
                                         channel=channel)[0]
        except AsrError as e:
            errors[str(path)] = str(e)
    utt2spk = {u: "speaker" for u in raw} if one_speaker else None
    normalize = exp.normalizer(None, raw.items(), utt2spk)
    timer = times.timer(exp, model) if times is not None else None
    batches = plan_batches(list(raw), {u: m.shape[0] for u, m in raw.items()},
                           DEFAULT_MAX_FRAMES)
    cuts = SilenceCuts(exp.feats, lambda p: load_audio(p, p, allow_pipes=False, channel=channel),
                       allow_resample, active=times is not None)
    found = {}
    for u, h, _ in decode_batches(model, batches, cuts.watch(raw.__getitem__), normalize,
                                  SearchStep(search, timer), device):
        cuts.restore(u, h)
        found[u] = h
    audio = sum(m.shape[0] for m in raw.values()) * exp.feats.frame_shift_ms / 1000
    return DecodeResult.of(found, exp.tokenizer, audio, time.time() - t0, errors=errors)
