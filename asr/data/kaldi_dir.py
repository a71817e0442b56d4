"""Read and write Kaldi data dirs (wav.scp, segments, text, utt2spk, spk2utt, utt2dur,
utt2num_frames, feats.scp, cmvn.scp).

Every reader reports problems with the file and line; a data dir is checked for the
cross-file consistency that training and decoding rely on before anything runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from asr.atomic_io import atomic_write_text
from asr.data.consistency import find_inconsistencies, spk2utt_from_utt2spk
from asr.errors import DataError

# files keyed by utterance id, in the order Kaldi's fix_data_dir.sh treats them
UTT_FILES = ("text", "utt2spk", "segments", "feats.scp", "utt2dur", "utt2num_frames")
FEATS_CONFIG = "feats.yaml"  # the fbank options the dir's features are made with
CMVN_STATS = "cmvn.ark"  # global CMVN stats of the whole dir (asr cmvn)
SET_FILES = (FEATS_CONFIG, CMVN_STATS)  # describe the whole set, not single utterances
# files whose values are rxfilenames that kaldiio opens, so a ``cmd |`` value runs ``cmd``
RX_FILES = ("wav.scp", "feats.scp", "cmvn.scp")


def utt_keyed_files(names: Iterable[str]) -> list[str]:
    """Which of the files ``names`` of a data dir are keyed by utterance id: wav.scp too,
    unless segments make it keyed by recording."""
    names = set(names)
    utt_files = [n for n in UTT_FILES if n in names]
    return utt_files if "segments" in names or "wav.scp" not in names else \
        ["wav.scp", *utt_files]


class KvLine(NamedTuple):
    """One line of a ``key value...`` file; ``problem`` is None, 'utf8' or 'blank'."""

    lineno: int
    key: str
    value: str
    problem: str | None


def iter_kv(path: Path) -> Iterator[KvLine]:
    """Every line of a Kaldi ``key value...`` file, bad ones flagged rather than raised."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    for lineno, line_bytes in enumerate(raw.splitlines(), start=1):
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as e:
            yield KvLine(lineno, line_bytes.split(maxsplit=1)[0].decode("utf-8", "replace")
                         if line_bytes.strip() else "", f"{e.reason} at byte {e.start}", "utf8")
            continue
        parts = line.strip().split(maxsplit=1)
        if not parts:
            yield KvLine(lineno, "", "", "blank")
            continue
        yield KvLine(lineno, parts[0], parts[1].strip() if len(parts) > 1 else "", None)


def read_kv(path: Path, *, what: str = "value", allow_empty: bool = False) -> dict[str, str]:
    """Read a Kaldi ``key value...`` file into an ordered dict.

    Raises DataError naming the file and line for undecodable bytes, blank lines,
    duplicate keys and (unless ``allow_empty``) keys with nothing after them.
    """
    out: dict[str, str] = {}
    for line in iter_kv(path):
        if line.problem == "utf8":
            raise DataError(f"{path}:{line.lineno}: not valid UTF-8 ({line.value})")
        if line.problem == "blank":
            raise DataError(f"{path}:{line.lineno}: empty line")
        if not line.value and not allow_empty:
            raise DataError(f"{path}:{line.lineno}: utterance '{line.key}' has an empty {what}")
        if line.key in out:
            raise DataError(f"{path}:{line.lineno}: duplicate key '{line.key}'")
        out[line.key] = line.value
    return out


def read_texts(path: Path) -> list[str]:
    """The transcripts of a Kaldi text file, in file order; an empty file is a DataError."""
    texts = list(read_kv(path, what="transcript").values())
    if not texts:
        raise DataError(f"{path}: no transcripts (the file is empty)")
    return texts


def write_kv(path: Path, items: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
    """Write ``key value`` lines sorted by key (Kaldi's C-locale order), atomically."""
    pairs = sorted(items.items() if isinstance(items, Mapping) else items)
    atomic_write_text(Path(path), "".join(f"{k} {v}\n" for k, v in pairs))


def is_pipe(rxfilename: str) -> bool:
    """Whether a wav.scp/feats.scp value is a ``cmd |`` pipe: reading it runs ``cmd`` in a shell."""
    return rxfilename.rstrip().endswith("|")


def refuse_pipe(rxfilename: str, where: str) -> None:
    """DataError when ``rxfilename`` is a pipe; ``where`` names its file, line and key."""
    if is_pipe(rxfilename):
        raise DataError(f"{where} is a pipe '{rxfilename}', which would run a shell command; "
                        "refused (--no-pipes / data.allow_pipes: false)")


def refuse_pipes(data_dir: Path) -> None:
    """Check every wav.scp, feats.scp and cmvn.scp entry of ``data_dir`` before anything is
    read, so that with pipes refused no command ever runs; the error names file, line, id."""
    data_dir = Path(data_dir)
    with_segments = (data_dir / "segments").is_file()
    for name in RX_FILES:
        if not (data_dir / name).is_file():
            continue
        kind = "speaker" if name == "cmvn.scp" else \
            "recording" if name == "wav.scp" and with_segments else "utterance"
        for line in iter_kv(data_dir / name):
            refuse_pipe(line.value, f"{data_dir / name}:{line.lineno}: {kind} '{line.key}'")


class Segment(NamedTuple):
    """A piece of a recording, Kaldi semantics: end < 0 means to the end of the recording."""

    recording: str
    start: float
    end: float


def parse_segment(value: str) -> Segment:
    """``rec start end`` (the value of a segments line) -> Segment; ValueError when malformed."""
    parts = value.split()
    if len(parts) != 3:
        raise ValueError(f"expected '<recording> <start> <end>', got {value!r}")
    seg = Segment(parts[0], float(parts[1]), float(parts[2]))
    if seg.start < 0 or (seg.end >= 0 and seg.end <= seg.start):
        raise ValueError(f"bad times {seg.start} {seg.end} (need 0 <= start < end, or end -1)")
    return seg


def _parse_values(path: Path, entries: dict[str, str], what: str, parse) -> dict:
    out = {}
    for lineno, (key, value) in enumerate(entries.items(), start=1):
        try:
            out[key] = parse(value)
        except ValueError as e:
            raise DataError(f"{path}:{lineno}: utterance '{key}': bad {what}: {e}") from None
    return out


def parse_frame_count(v: str) -> int:
    if not v.isdigit():
        raise ValueError(f"{v!r} is not a non-negative integer")
    return int(v)


def parse_duration(v: str) -> float:
    d = float(v)
    if not d > 0:
        raise ValueError(f"{v!r} is not a positive number of seconds")
    return d


# files whose values must parse: name (also the DataDir field) -> (what a value is, parser)
PARSED_FILES: dict[str, tuple[str, Callable[[str], object]]] = {
    "utt2num_frames": ("frame count", parse_frame_count), "segments": ("segment", parse_segment),
    "utt2dur": ("duration", parse_duration)}


@dataclass
class DataDir:
    """The files of one Kaldi data dir; absent files are None.

    With ``segments``, wav.scp is keyed by recording id and utterances are pieces of
    recordings; otherwise wav.scp is keyed by utterance id.
    """

    path: Path
    wav_scp: dict[str, str] | None = None
    text: dict[str, str] | None = None
    utt2spk: dict[str, str] | None = None
    feats_scp: dict[str, str] | None = None
    utt2num_frames: dict[str, int] | None = None
    segments: dict[str, Segment] | None = None
    utt2dur: dict[str, float] | None = None

    @classmethod
    def load(cls, path: str | Path, allow_pipes: bool = True) -> DataDir:
        """Read whichever of the standard files exist and check they agree; without
        ``allow_pipes``, a ``cmd |`` entry in wav.scp, feats.scp or cmvn.scp is a DataError."""
        path = Path(path)
        if not path.is_dir():
            raise DataError(f"data dir not found: {path}")
        if not allow_pipes:
            refuse_pipes(path)

        def opt(name: str, what: str) -> dict[str, str] | None:
            f = path / name
            return read_kv(f, what=what) if f.exists() else None

        d = cls(path=path, wav_scp=opt("wav.scp", "wav entry"), text=opt("text", "transcript"),
                utt2spk=opt("utt2spk", "speaker"), feats_scp=opt("feats.scp", "feature entry"))
        for name, (what, parse) in PARSED_FILES.items():
            raw = opt(name, what)
            if raw is not None:
                setattr(d, name, _parse_values(path / name, raw, what, parse))
        if d.wav_scp is None and d.feats_scp is None:
            raise DataError(f"{path}: has neither wav.scp nor feats.scp")
        d.check()
        return d

    @property
    def utt_ids(self) -> list[str]:
        """Utterances with features, else segments, else audio (the primary listing), sorted."""
        for primary in (self.feats_scp, self.segments, self.wav_scp):
            if primary is not None:
                return sorted(primary)
        raise AssertionError("load() ensures wav.scp or feats.scp")

    def audio_of(self, utt: str) -> tuple[str, float, float]:
        """(wav.scp rxfilename, start s, end s or -1) of one utterance's audio."""
        self.require("wav.scp")
        assert self.wav_scp is not None
        if self.segments is not None:
            seg = self.segments[utt]
            return self.wav_scp[seg.recording], seg.start, seg.end
        return self.wav_scp[utt], 0.0, -1.0

    def check(self) -> None:
        """Every id in the per-utterance files must have audio or features: a DataError names
        the file and line of the first that has not (asr validate-data lists them all)."""
        files = {n: v for n in ("wav.scp", *UTT_FILES)
                 if (v := getattr(self, n.replace(".", "_"))) is not None}
        segments = None if self.segments is None else \
            {u: seg.recording for u, seg in self.segments.items()}
        find_inconsistencies({n: files[n] for n in utt_keyed_files(files)}, segments,
                             self.wav_scp).raise_first(self.path)

    def require(self, *names: str) -> None:
        """Fail clearly when a file a stage needs is absent."""
        for name in names:
            if getattr(self, name.replace(".", "_")) is None:
                raise DataError(f"{self.path}: {name} is required here but missing")

    def transcripts(self) -> dict[str, str]:
        """Each utterance's transcript: a DataError names the first utterance without one
        (training, shards and scoring need every one)."""
        self.require("text")
        assert self.text is not None
        missing = [u for u in self.utt_ids if u not in self.text]
        if missing:
            raise DataError(f"{self.path / 'text'}: utterance '{missing[0]}' has no "
                            f"transcript ({len(missing)} such utterances)")
        return {u: self.text[u] for u in self.utt_ids}

    def audio_only(self) -> DataDir:
        """This dir read as if it had no feats.scp: features come from wav.scp."""
        self.require("wav.scp")
        return dataclasses.replace(self, feats_scp=None)


def write_data_dir(path: Path, wav_scp: Mapping[str, str], text: Mapping[str, str],
                   utt2spk: Mapping[str, str], segments: Mapping[str, Segment] | None = None,
                   utt2dur: Mapping[str, float] | None = None) -> None:
    """Write wav.scp, text, utt2spk and spk2utt (and segments, utt2dur) for a new data dir."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    write_kv(path / "wav.scp", wav_scp)
    write_kv(path / "text", text)
    write_kv(path / "utt2spk", utt2spk)
    write_kv(path / "spk2utt", {s: " ".join(u) for s, u in spk2utt_from_utt2spk(utt2spk).items()})
    if segments is not None:
        write_kv(path / "segments", {u: format_segment(s) for u, s in segments.items()})
    if utt2dur is not None:
        write_kv(path / "utt2dur", {u: format_seconds(d) for u, d in utt2dur.items()})


def format_seconds(x: float) -> str:
    """Seconds to microsecond precision without trailing zeros: 1.5, 2.345678, -1."""
    return f"{x:.6f}".rstrip("0").rstrip(".")


def format_segment(seg: Segment) -> str:
    return f"{seg.recording} {format_seconds(seg.start)} {format_seconds(seg.end)}"
