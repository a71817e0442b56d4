"""Length-sorted decoding batches planned before any features are read.

Decoding hours of audio cannot hold every feature matrix; knowing each utterance's
frame count up front (utt2num_frames, segments, utt2dur, or the audio file's header)
lets the decoder sort and batch the whole dir, then read one batch at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import soundfile

from asr.config.schema import FbankConfig
from asr.data.features import num_frames
from asr.data.kaldi_dir import DataDir


def plan_batches(utt_ids: Sequence[str], frames: Mapping[str, int], max_frames: int
                 ) -> list[list[str]]:
    """``utt_ids`` sorted by ``frames`` (stable: ties keep their order) and cut into
    batches whose padded size (longest x count) stays within ``max_frames``; a longer
    utterance is a batch of its own. Short utterances are thus not padded to long ones."""
    order = sorted(utt_ids, key=lambda u: frames[u])
    batches: list[list[str]] = []
    start = 0
    while start < len(order):
        end = start + 1
        longest = frames[order[start]]
        while end < len(order) and max(longest, frames[order[end]]) * (end - start + 1) \
                <= max_frames:
            longest = max(longest, frames[order[end]])
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def _audio_samples(rx: str) -> tuple[int, int] | None:
    """(samples, rate) from the header of an audio file; None for a pipe, an ark offset or
    a file soundfile cannot open (the read itself will say what is wrong)."""
    if rx.rstrip().endswith("|") or ":" in rx.rsplit("/", 1)[-1]:
        return None
    try:
        info = soundfile.info(rx)
    except (RuntimeError, OSError):  # LibsndfileError is a RuntimeError
        return None
    return info.frames, info.samplerate


def estimated_frames(d: DataDir, cfg: FbankConfig | None) -> dict[str, int] | None:
    """Feature frames per utterance of ``d`` without reading features or audio samples:
    utt2num_frames, else the segment, utt2dur or audio-header duration through fbank's
    frame formula (exact for whole audio files at the feature rate). None when some
    utterance's length cannot be known so (a ``cmd |`` entry without utt2dur)."""
    utts = d.utt_ids
    if d.utt2num_frames is not None and all(u in d.utt2num_frames for u in utts):
        return {u: d.utt2num_frames[u] for u in utts}
    if cfg is None:
        return None
    rate = cfg.sample_rate
    out: dict[str, int] = {}
    for u in utts:
        seg = d.segments.get(u) if d.segments is not None else None
        if seg is not None and seg.end > 0:
            out[u] = num_frames(round((seg.end - seg.start) * rate), cfg)
        elif d.utt2dur is not None and u in d.utt2dur:
            out[u] = num_frames(round(d.utt2dur[u] * rate), cfg)
        elif seg is None and d.wav_scp is not None and (info := _audio_samples(d.wav_scp[u])):
            samples, file_rate = info
            out[u] = num_frames(samples if file_rate == rate else
                                round(samples * rate / file_rate), cfg)
        else:
            return None
    return out
