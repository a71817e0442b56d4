"""``asr shar``: a Kaldi data dir written as lhotse Shar shards, for sequential reading.

Utterances go into shards in data-dir order (sorted ids), ``shard_size`` per shard, with
their text and speaker in the cuts and their audio (FLAC, 16-bit: the int16 scale our
fbank reads) or precomputed features (``.npy``, lossless) in the shard's tar. A shard is
written into a temporary dir, read back through lhotse and compared cut by cut with
what was meant to be written, then its files are checksummed, moved into place and
recorded in ``shards.json`` (atomically). A killed run resumes at the first shard the
index does not list; the shards before it are not read again.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from asr.data.ark import read_matrix
from asr.data.audio import load_audio
from asr.data.kaldi_dir import SET_FILES, DataDir
from asr.data.shar_index import FIELD, INDEX, Content, Shard, ShardIndex, sha256_of, shard_files
from asr.errors import DataError

log = logging.getLogger(__name__)
FORMATS = {"audio": "flac", "features": "numpy"}  # both lossless for what they hold


@dataclass
class _Audio:
    """What the written audio had in common: its rate, and the largest int16 rounding."""

    rate: int = 0
    rounding: float = 0.0
    rounded_utt: str = ""

    def pcm16(self, samples: np.ndarray, rate: int, utt: str) -> np.ndarray:
        """Int16 samples of ``samples`` (int16 scale); one rate for the whole dir."""
        if self.rate and rate != self.rate:
            raise DataError(f"utterance '{utt}': {rate} Hz audio where the others are "
                            f"{self.rate} Hz; resample the data dir first (one rate per dir)")
        self.rate = rate
        pcm = np.clip(np.rint(samples), -32768, 32767).astype(np.int16)
        dev = float(np.max(np.abs(pcm - samples), initial=0.0))
        if dev > self.rounding:
            self.rounding, self.rounded_utt = dev, utt
        return pcm


def _cut(d: DataDir, utt: str, content: Content, audio: _Audio) -> tuple[object, bytes, int]:
    """The lhotse cut of ``utt`` with its data in memory, the bytes it must read back as
    (int16 samples or float32 frames) and its length (samples or frames)."""
    from lhotse import Features, MonoCut, Recording, SupervisionSegment

    assert d.text is not None
    speaker = d.utt2spk.get(utt) if d.utt2spk else None
    if content == "audio":
        rx, start, end = d.audio_of(utt)
        samples, rate = load_audio(rx, utt, start, end)
        pcm = audio.pcm16(samples.numpy(), rate, utt)
        wav = io.BytesIO()
        soundfile.write(wav, pcm, rate, format="WAV", subtype="PCM_16")
        rec = Recording.from_bytes(wav.getvalue(), utt)
        sup = SupervisionSegment(id=utt, recording_id=utt, start=0.0, duration=rec.duration,
                                 channel=0, text=d.text[utt], speaker=speaker)
        cut = MonoCut(id=utt, start=0.0, duration=rec.duration, channel=0, recording=rec,
                      supervisions=[sup])
        return cut, pcm.tobytes(), len(pcm)
    assert d.feats_scp is not None
    mat = np.ascontiguousarray(read_matrix(utt, d.feats_scp[utt]), dtype=np.float32)
    npy = io.BytesIO()
    np.save(npy, mat)
    duration = mat.shape[0] / 100.0  # nominal: our readers go by the frames
    feats = Features(type="asr-kaldi-fbank", num_frames=mat.shape[0], num_features=mat.shape[1],
                     frame_shift=0.01, sampling_rate=16000, start=0.0, duration=duration,
                     storage_type="memory_npy", storage_path="", storage_key=npy.getvalue())
    sup = SupervisionSegment(id=utt, recording_id=utt, start=0.0, duration=duration, channel=0,
                             text=d.text[utt], speaker=speaker)
    cut = MonoCut(id=utt, start=0.0, duration=duration, channel=0, features=feats,
                  supervisions=[sup])
    return cut, mat.tobytes(), mat.shape[0]


def _without_timestamp(path: Path) -> None:
    """Recompress the gzip file ``path`` with mtime 0: gzip.open (which lhotse uses) stamps
    the wall clock into the header, so the same cuts written a second apart would get
    other bytes and other checksums; a resumed write must match a fresh one byte for byte."""
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data, mtime=0))


def _read_back(tmp: Path, number: int, content: Content) -> list[tuple[str, str]]:
    """(cut id, SHA-1 of its data as lhotse reads it) for every cut of the shard just
    written: what lhotse cannot read back does not count as written."""
    from lhotse.shar.readers.lazy import LazySharIterator

    paths = {k: [str(tmp / v)] for k, v in shard_files(number, content).items()}
    out = []
    for cut in LazySharIterator(fields=paths):
        if content == "audio":
            data = np.rint(cut.load_audio()[0] * 32768.0).astype(np.int16)
        else:
            data = np.ascontiguousarray(cut.load_features(), dtype=np.float32)
        out.append((cut.id, hashlib.sha1(data.tobytes()).hexdigest()))
    return out


def _write_shard(d: DataDir, utts: list[str], number: int, content: Content, out: Path,
                 audio: _Audio) -> Shard:
    from lhotse.shar import SharWriter

    tmp = out / f".tmp.{number:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    expected, lengths = [], []
    with SharWriter(str(tmp), fields={FIELD[content]: FORMATS[content]}, shard_size=None,
                    shard_suffix=f".{number:06d}") as writer:
        for utt in utts:
            cut, data, length = _cut(d, utt, content, audio)
            writer.write(cut)
            expected.append((utt, hashlib.sha1(data).hexdigest()))
            lengths.append(length)
    _without_timestamp(tmp / shard_files(number, content)["cuts"])
    got = _read_back(tmp, number, content)
    if got != expected:
        bad = next((e[0] for e, g in zip(expected, got, strict=False) if e != g),
                   expected[len(got)][0] if len(got) < len(expected) else got[len(expected)][0])
        raise DataError(f"shard {number} of {out}: cut '{bad}' does not read back as written "
                        f"({len(got)} of {len(expected)} cuts read); the disk or lhotse "
                        "changed it: nothing of this shard was kept")
    files = {}
    for name in shard_files(number, content).values():
        path = tmp / name
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        files[name] = {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
        os.replace(path, out / name)
    shutil.rmtree(tmp)
    return Shard(number, (utts[0], utts[-1]), lengths, files)


def _resumable(out: Path, index: ShardIndex) -> ShardIndex:
    """``index`` with the shards a previous run of the same job finished; a dir made from
    other data or with another shard size is refused."""
    path = out / INDEX
    if not path.is_file():
        return index
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        same = all(old.get(k) == getattr(index, k) for k in
                   ("format", "content", "source", "shard_size", "num_utterances", "sample_rate"))
    except ValueError as e:
        raise DataError(f"{path}: unreadable ({e}); remove {out} to write it anew") from None
    if not same:
        raise DataError(f"{out} holds shards of another job ({path} says source "
                        f"{old.get('source')}, shard_size {old.get('shard_size')}, content "
                        f"{old.get('content')}): use another OUT_DIR or remove it")
    kept = []
    for s in old["shards"]:
        shard = Shard.from_json(s)
        sizes_ok = all((out / n).is_file() and (out / n).stat().st_size == m["bytes"]
                       for n, m in shard.files.items())
        if shard.number != len(kept) or not sizes_ok:
            break
        kept.append(shard)
    index.shards = kept
    return index


def write_shards(data_dir: Path, out: Path, shard_size: int = 1000, content: Content | None = None,
                 allow_pipes: bool = True) -> ShardIndex:
    """Write (or finish writing) ``data_dir`` as shards in ``out``; return the index.

    ``content``: "audio" (wav.scp) or "features" (feats.scp); by default features when
    the dir has a feats.scp. The set files (feats.yaml, cmvn.ark) are copied along, so
    the shard dir is a training dir for ``data.source: lhotse_shar``.
    """
    if shard_size < 1:
        raise DataError(f"shard size must be >= 1, got {shard_size}")
    d = DataDir.load(data_dir, allow_pipes)
    content = content or ("features" if d.feats_scp is not None else "audio")
    d.require("text", "wav.scp" if content == "audio" else "feats.scp")
    d.transcripts()
    utts = d.utt_ids
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    audio = _Audio()
    if content == "audio" and utts:
        rx, start, end = d.audio_of(utts[0])
        audio.rate = load_audio(rx, utts[0], start, end, allow_pipes)[1]
    index = _resumable(out, ShardIndex(content, str(Path(data_dir).resolve()), shard_size,
                                       len(utts), audio.rate))
    for name in SET_FILES:
        if (Path(data_dir) / name).is_file():
            shutil.copyfile(Path(data_dir) / name, out / name)
    if index.shards:
        log.info("%s: %d shards written before; resuming at shard %d", out, len(index.shards),
                 len(index.shards))
    for number in range(len(index.shards), (len(utts) + shard_size - 1) // shard_size):
        part = utts[number * shard_size:(number + 1) * shard_size]
        index.shards.append(_write_shard(d, part, number, content, out, audio))
        index.save(out)
        log.info("%s: shard %d written (%d cuts)", out, number, len(part))
    if not index.shards:
        index.save(out)
    if audio.rounding > 0:
        log.warning("%s: audio is not 16-bit: stored rounded to int16 (largest change %.3g "
                    "of 32768, utterance '%s')", out, audio.rounding, audio.rounded_utt)
    return index
