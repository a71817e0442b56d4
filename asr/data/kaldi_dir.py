"""Read and write Kaldi data dirs (wav.scp, text, utt2spk, spk2utt, feats.scp, ...).

Every reader reports problems with the file and line; a data dir is checked for the
cross-file consistency that training and decoding rely on before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from asr.errors import DataError
from asr.utils import atomic_write_text


def read_kv(path: Path, *, what: str = "value", allow_empty: bool = False) -> dict[str, str]:
    """Read a Kaldi ``key value...`` file into an ordered dict.

    Raises DataError naming the file and line for undecodable bytes, blank lines,
    duplicate keys and (unless ``allow_empty``) keys with nothing after them.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    out: dict[str, str] = {}
    for lineno, line_bytes in enumerate(raw.splitlines(), start=1):
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") \
                from None
        parts = line.strip().split(maxsplit=1)
        if not parts:
            raise DataError(f"{path}:{lineno}: empty line")
        key = parts[0]
        value = parts[1].strip() if len(parts) > 1 else ""
        if not value and not allow_empty:
            raise DataError(f"{path}:{lineno}: utterance '{key}' has an empty {what}")
        if key in out:
            raise DataError(f"{path}:{lineno}: duplicate key '{key}'")
        out[key] = value
    return out


def write_kv(path: Path, items: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
    """Write ``key value`` lines sorted by key (Kaldi's C-locale order), atomically."""
    pairs = sorted(items.items() if isinstance(items, Mapping) else items)
    atomic_write_text(Path(path), "".join(f"{k} {v}\n" for k, v in pairs))


def spk2utt_from_utt2spk(utt2spk: Mapping[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for utt, spk in sorted(utt2spk.items()):
        out.setdefault(spk, []).append(utt)
    return out


@dataclass
class DataDir:
    """The files of one Kaldi data dir; absent files are None."""

    path: Path
    wav_scp: dict[str, str] | None = None
    text: dict[str, str] | None = None
    utt2spk: dict[str, str] | None = None
    feats_scp: dict[str, str] | None = None
    utt2num_frames: dict[str, int] | None = None

    @classmethod
    def load(cls, path: str | Path) -> DataDir:
        """Read whichever of the standard files exist and check they agree."""
        path = Path(path)
        if not path.is_dir():
            raise DataError(f"data dir not found: {path}")

        def opt(name: str, what: str) -> dict[str, str] | None:
            f = path / name
            return read_kv(f, what=what) if f.exists() else None

        d = cls(path=path, wav_scp=opt("wav.scp", "wav entry"), text=opt("text", "transcript"),
                utt2spk=opt("utt2spk", "speaker"), feats_scp=opt("feats.scp", "feature entry"))
        n = opt("utt2num_frames", "frame count")
        if n is not None:
            d.utt2num_frames = {}
            for utt, v in n.items():
                if not v.isdigit():
                    raise DataError(f"{path / 'utt2num_frames'}: utterance '{utt}': "
                                    f"frame count {v!r} is not a non-negative integer")
                d.utt2num_frames[utt] = int(v)
        if d.wav_scp is None and d.feats_scp is None:
            raise DataError(f"{path}: has neither wav.scp nor feats.scp")
        d.check()
        return d

    @property
    def utt_ids(self) -> list[str]:
        """Utterances with audio or features (the primary listing), sorted."""
        primary = self.feats_scp if self.feats_scp is not None else self.wav_scp
        assert primary is not None
        return sorted(primary)

    def check(self) -> None:
        """Every id in text/utt2spk/utt2num_frames must have audio or features."""
        for name, primary in (("wav.scp", self.wav_scp), ("feats.scp", self.feats_scp)):
            if primary is None:
                continue
            for other_name, other in (("text", self.text), ("utt2spk", self.utt2spk),
                                      ("utt2num_frames", self.utt2num_frames)):
                if other is None:
                    continue
                missing = [u for u in other if u not in primary]
                if missing:
                    lineno = list(other).index(missing[0]) + 1
                    raise DataError(
                        f"{self.path / other_name}:{lineno}: utterance '{missing[0]}' is not in "
                        f"{self.path / name} ({len(missing)} such utterances); "
                        f"run 'asr validate-data {self.path}' for a full report")
        if self.feats_scp is not None and self.wav_scp is not None:
            missing = [u for u in self.feats_scp if u not in self.wav_scp]
            if missing:
                raise DataError(f"{self.path / 'feats.scp'}: utterance '{missing[0]}' is not in "
                                f"{self.path / 'wav.scp'} ({len(missing)} such utterances)")

    def require(self, *names: str) -> None:
        """Fail clearly when a file a stage needs is absent."""
        attrs = {"wav.scp": "wav_scp", "text": "text", "utt2spk": "utt2spk",
                 "feats.scp": "feats_scp", "utt2num_frames": "utt2num_frames"}
        for name in names:
            if getattr(self, attrs[name]) is None:
                raise DataError(f"{self.path}: {name} is required here but missing")


def write_data_dir(path: Path, wav_scp: Mapping[str, str], text: Mapping[str, str],
                   utt2spk: Mapping[str, str]) -> None:
    """Write wav.scp, text, utt2spk and spk2utt for a new data dir."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    write_kv(path / "wav.scp", wav_scp)
    write_kv(path / "text", text)
    write_kv(path / "utt2spk", utt2spk)
    write_kv(path / "spk2utt", {s: " ".join(u) for s, u in spk2utt_from_utt2spk(utt2spk).items()})
