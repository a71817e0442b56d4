"""lhotse interop: Kaldi data dir <-> RecordingSet/SupervisionSet/CutSet manifests, and
utterances read from a CutSet for training (``data.source: lhotse``).

A manifest dir holds recordings.jsonl.gz, supervisions.jsonl.gz and cuts.jsonl.gz (one
cut per supervision; with features when the data dir had feats.scp).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import soundfile

from asr.config.schema import FbankConfig
from asr.data.ark import read_matrix
from asr.data.audio import load_audio
from asr.data.dataset import Utterance
from asr.data.features import FEATS_CONFIG, compute_fbank, num_frames, read_feats_config
from asr.data.kaldi_dir import (
    SET_FILES,
    DataDir,
    Segment,
    is_pipe,
    refuse_pipe,
    write_data_dir,
)
from asr.data.tokenizer import Tokenizer
from asr.errors import DataError

log = logging.getLogger(__name__)
RECORDINGS, SUPERVISIONS, CUTS = "recordings.jsonl.gz", "supervisions.jsonl.gz", "cuts.jsonl.gz"
FEATURE_TYPE = "asr-kaldi-fbank"  # our torchaudio Kaldi fbank, stored losslessly as .npy


def _recording(rec_id: str, rx: str):
    from lhotse import AudioSource, Recording

    if ".ark:" in rx and not is_pipe(rx):
        raise DataError(f"recording '{rec_id}': '{rx}' is audio inside a Kaldi ark, which "
                        "lhotse cannot read; write it out as wav files first")
    if is_pipe(rx):
        samples, rate = load_audio(rx, rec_id)  # a pipe must run once to learn its length
        source = AudioSource(type="command", channels=[0], source=rx.rstrip()[:-1].strip())
        count = samples.numel()
    else:
        try:
            info = soundfile.info(rx)
        except Exception as e:
            raise DataError(f"recording '{rec_id}': cannot read audio '{rx}': {e}") from None
        source = AudioSource(type="file", channels=[0], source=rx)
        rate, count = info.samplerate, info.frames
    return Recording(id=rec_id, sources=[source], sampling_rate=rate, num_samples=count,
                     duration=count / rate)


def import_data_dir(data_dir: Path, out: Path, allow_pipes: bool = True) -> int:
    """Write the three manifests of a Kaldi data dir into ``out``; return the cut count.

    Supervision ids, texts and speakers are the data dir's; durations come from the audio.
    With feats.scp, its matrices are stored (lossless .npy) and attached to the cuts;
    feats.yaml and cmvn.ark are copied, so the manifest dir can be a training dir.
    Without ``allow_pipes`` a ``cmd |`` entry is refused before any audio is read.
    """
    from lhotse import CutSet, Features, RecordingSet, SupervisionSegment, SupervisionSet
    from lhotse.features.io import NumpyFilesWriter


    d = DataDir.load(data_dir, allow_pipes)
    d.require("wav.scp", "text")
    assert d.wav_scp is not None and d.text is not None
    recordings = RecordingSet.from_recordings(_recording(r, rx) for r, rx in d.wav_scp.items())
    sups = []
    for utt in d.utt_ids:
        seg = d.segments[utt] if d.segments is not None else Segment(utt, 0.0, -1.0)
        rec = recordings[seg.recording]
        end = rec.duration if seg.end < 0 else min(seg.end, rec.duration)
        sups.append(SupervisionSegment(
            id=utt, recording_id=seg.recording, start=seg.start, duration=end - seg.start,
            channel=0, text=d.text.get(utt), speaker=d.utt2spk.get(utt) if d.utt2spk else None))
    supervisions = SupervisionSet.from_segments(sups)
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    cuts = cuts.trim_to_supervisions(keep_overlapping=False).to_eager()
    cuts = CutSet.from_cuts(c.with_id(c.supervisions[0].id) for c in cuts)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in SET_FILES:  # what training copies into the exp dir
        if (Path(data_dir) / name).is_file():
            shutil.copyfile(Path(data_dir) / name, out / name)
    if d.feats_scp is not None:
        cfg = read_feats_config(data_dir)
        with NumpyFilesWriter(out / "feats") as writer:
            with_feats = []
            for cut in cuts:
                mat = read_matrix(cut.id, d.feats_scp[cut.id]).astype(np.float32)
                cut.features = Features(
                    type=FEATURE_TYPE, num_frames=mat.shape[0], num_features=mat.shape[1],
                    frame_shift=cfg.frame_shift_ms / 1000, sampling_rate=cfg.sample_rate,
                    start=cut.start, duration=cut.duration, storage_type=writer.name,
                    storage_path=str(writer.storage_path), storage_key=writer.write(cut.id, mat),
                    recording_id=cut.recording_id, channels=0)
                with_feats.append(cut)
            cuts = CutSet.from_cuts(with_feats)
    recordings.to_file(out / RECORDINGS)
    supervisions.to_file(out / SUPERVISIONS)
    cuts.to_file(out / CUTS)
    return len(cuts)


def _read_manifest(cls, path: Path) -> list:
    """The items of a lhotse manifest file (``cls``: RecordingSet, SupervisionSet, CutSet);
    a file lhotse cannot parse is a DataError naming it."""
    try:
        return list(cls.from_file(path))
    except Exception as e:  # lhotse raises value, JSON, gzip and key errors
        raise DataError(f"{path}: not a readable lhotse {cls.__name__} manifest: "
                        f"{type(e).__name__}: {e}") from None


def _wav_entry(rec) -> str:
    if len(rec.sources) != 1 or rec.num_channels != 1:
        raise DataError(f"recording '{rec.id}': only single-source mono recordings export to "
                        "a Kaldi wav.scp")
    src = rec.sources[0]
    if src.type == "file":
        return str(src.source)
    if src.type == "command":
        return f"{src.source} |"
    raise DataError(f"recording '{rec.id}': audio source type '{src.type}' has no wav.scp form")


def export_manifests(manifest_dir: Path | None, out: Path, recordings_path: Path | None = None,
                     supervisions_path: Path | None = None) -> int:
    """Write a Kaldi data dir from a manifest dir's recordings and supervisions (or the two
    files given, as lhotse's corpus recipes name them); return the utterance count.
    Supervisions spanning whole recordings need no segments file; a supervision without a
    speaker is its own speaker, as Kaldi does without speaker information."""
    from lhotse import RecordingSet, SupervisionSet

    paths = []
    for given, name in ((recordings_path, RECORDINGS), (supervisions_path, SUPERVISIONS)):
        path = Path(given) if given else Path(manifest_dir or ".") / name
        if not path.is_file():
            raise DataError(f"{path}: missing (made by 'asr lhotse-import' or lhotse prepare)")
        paths.append(path)
    recordings = {r.id: r for r in _read_manifest(RecordingSet, paths[0])}
    supervisions = _read_manifest(SupervisionSet, paths[1])
    wav = {r.id: _wav_entry(r) for r in recordings.values()}
    text, utt2spk, utt2dur, segments = {}, {}, {}, {}
    whole = True
    for s in supervisions:
        if s.text is None:
            raise DataError(f"supervision '{s.id}' in {paths[1]}: no text")
        text[s.id], utt2spk[s.id], utt2dur[s.id] = s.text, s.speaker or s.id, s.duration
        segments[s.id] = Segment(s.recording_id, s.start, s.end)
        rec = recordings.get(s.recording_id)
        if rec is None:
            raise DataError(f"supervision '{s.id}': recording '{s.recording_id}' is not in "
                            f"{paths[0]}")
        whole &= s.id == s.recording_id and s.start == 0 and abs(s.duration - rec.duration) < 1e-6
    write_data_dir(out, wav, text, utt2spk, None if whole else segments, utt2dur)
    return len(text)


def load_cut_utterances(manifest_dir: Path, tokenizer: Tokenizer, cfg: FbankConfig,
                        from_audio: bool, allow_pipes: bool = True
                        ) -> tuple[list[Utterance], dict]:
    """Utterances of a CutSet (``cuts.jsonl.gz``) for :class:`CutFeatures`, and the cuts by id.

    Precomputed features must exist in the cuts and match ``cfg`` (same feats.yaml).
    Without ``allow_pipes`` a cut whose audio is a command (a wav.scp pipe) is refused.
    """
    from lhotse import CutSet

    path = Path(manifest_dir) / CUTS
    if not path.is_file():
        raise DataError(f"{path}: missing; run 'asr lhotse-import DATA_DIR {manifest_dir}'")
    cuts = {c.id: c for c in _read_manifest(CutSet, path)}
    if not from_audio:
        if any(not c.has_features for c in cuts.values()):
            raise DataError(f"{path}: cuts without features; import a data dir with feats.scp "
                            "or use data.features: on_the_fly")
        if read_feats_config(manifest_dir) != cfg:
            raise DataError(f"{manifest_dir}/{FEATS_CONFIG}: features made with other options")
    utts = []
    for cut_id, cut in sorted(cuts.items()):
        if not allow_pipes and cut.has_recording:
            for src in cut.recording.sources:
                if src.type == "command":
                    refuse_pipe(f"{src.source} |", f"{path}: cut '{cut_id}'")
        text = cut.supervisions[0].text if cut.supervisions else None
        if not text:
            raise DataError(f"{path}: cut '{cut_id}' has no supervision text")
        ids = tokenizer.encode(text)
        if not ids or not all(1 <= i < tokenizer.vocab_size for i in ids):
            raise DataError(f"{path}: cut '{cut_id}': transcript encodes to ids outside "
                            f"[1, {tokenizer.vocab_size})")
        frames = cut.features.num_frames if not from_audio else num_frames(
            round(cut.duration * cfg.sample_rate), cfg)
        utts.append(Utterance(cut_id, "", frames, text, tuple(ids)))
    return utts, cuts


class CutFeatures:
    """Feature source over cuts: stored features, or our Kaldi fbank of the cut's audio."""

    def __init__(self, cuts: dict, cfg: FbankConfig, from_audio: bool):
        self.cuts = cuts
        self.cfg = cfg
        self.from_audio = from_audio

    def __call__(self, utt: Utterance, epoch: int = 0) -> np.ndarray:
        import torch

        cut = self.cuts[utt.utt_id]
        try:
            if not self.from_audio:
                return np.asarray(cut.load_features(), dtype=np.float32)
            audio = cut.load_audio()  # (channels, S) float in [-1, 1]
        except Exception as e:
            what = "audio" if self.from_audio else "features"
            raise DataError(f"cut '{utt.utt_id}': cannot load {what}: {type(e).__name__}: {e}") \
                from None
        samples = torch.from_numpy(audio[0] * 32768.0).float()  # Kaldi's int16 scale
        return compute_fbank(samples, cut.sampling_rate, self.cfg, utt.utt_id).numpy()
