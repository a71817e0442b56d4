"""The index of a shard dir: what ``asr shar`` wrote, shard by shard, and how to check it.

A shard dir holds lhotse Shar shards (``cuts.NNNNNN.jsonl.gz`` with ``recording.NNNNNN.tar``
or ``features.NNNNNN.tar``) and ``shards.json``: per shard its cut count, each cut's
length (samples of audio, or feature frames) and each file's size and SHA-256. Batches
are planned from the lengths alone, so no rank reads a shard to learn how long it is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from asr.atomic_io import atomic_write_text
from asr.errors import DataError

INDEX = "shards.json"
FORMAT = "asr-lhotse-shar/1"
Content = Literal["audio", "features"]
FIELD = {"audio": "recording", "features": "features"}  # the Shar field holding the data


def shard_files(shard: int, content: Content) -> dict[str, str]:
    """Shar field -> file name of shard number ``shard``."""
    data = FIELD[content]
    return {"cuts": f"cuts.{shard:06d}.jsonl.gz", data: f"{data}.{shard:06d}.tar"}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Shard:
    number: int
    cut_ids: tuple[str, str]  # the first and the last, for messages and checks
    lengths: list[int]  # per cut, in stored order: samples (audio) or frames (features)
    files: dict[str, dict]  # file name -> {"bytes": int, "sha256": str}

    @property
    def num_cuts(self) -> int:
        return len(self.lengths)

    @classmethod
    def from_json(cls, raw: dict) -> Shard:
        return cls(raw["number"], tuple(raw["cut_ids"]), list(raw["lengths"]), dict(raw["files"]))


@dataclass
class ShardIndex:
    """What a shard dir holds; ``source`` and ``shard_size`` say what it was made from."""

    content: Content
    source: str
    shard_size: int
    num_utterances: int  # the source's, so that a partial dir knows it is partial
    sample_rate: int  # of the audio (0 for features)
    shards: list[Shard] = field(default_factory=list)
    format: str = FORMAT

    @property
    def complete(self) -> bool:
        return sum(s.num_cuts for s in self.shards) == self.num_utterances

    def paths(self, directory: str, shard: Shard) -> dict[str, str]:
        """Shar field -> path (or URL) of ``shard``'s files under ``directory``."""
        return {k: f"{directory.rstrip('/')}/{v}"
                for k, v in shard_files(shard.number, self.content).items()}

    def save(self, directory: Path) -> None:
        atomic_write_text(Path(directory) / INDEX, json.dumps(asdict(self)) + "\n")

    @classmethod
    def load(cls, directory: Path | str) -> ShardIndex:
        """The index of a finished shard dir; a missing, unreadable or partial one is a
        DataError that says how to make it."""
        path = f"{str(directory).rstrip('/')}/{INDEX}"
        try:
            raw = json.loads(_read_text(path))
            if raw.get("format") != FORMAT:
                raise ValueError(f"format {raw.get('format')!r}, expected {FORMAT!r}")
            raw["shards"] = [Shard.from_json(s) for s in raw["shards"]]
            index = cls(**raw)
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path}: not a shard index: {type(e).__name__}: {e}") from None
        if not index.complete:
            raise DataError(f"{path}: {sum(s.num_cuts for s in index.shards)} of "
                            f"{index.num_utterances} utterances written: 'asr shar' did not "
                            "finish; run it again to complete the dir")
        return index

    def check_files(self, directory: Path, checksums: bool = False) -> None:
        """Every shard file present with its size (and with ``checksums``, its SHA-256);
        a DataError names the first that is not."""
        for shard in self.shards:
            for name, meta in shard.files.items():
                path = Path(directory) / name
                if not path.is_file():
                    raise DataError(f"{path}: missing (shard {shard.number} of {directory})")
                if path.stat().st_size != meta["bytes"]:
                    raise DataError(f"{path}: {path.stat().st_size} bytes, {meta['bytes']} "
                                    "when written: truncated or replaced")
                if checksums and sha256_of(path) != meta["sha256"]:
                    raise DataError(f"{path}: SHA-256 differs from the one recorded when it "
                                    "was written: the file is corrupt")


def is_shard_dir(directory: Path | str) -> bool:
    """A local dir with an index, or a URL (only shard dirs are given as URLs)."""
    return "://" in str(directory) or (Path(directory) / INDEX).is_file()


def _read_text(path: str) -> str:
    """A local file, or a URL through lhotse's ``open_best`` (smart_open: s3://, gs://,
    http(s)://, ...)."""
    try:
        if "://" not in path:
            return Path(path).read_text(encoding="utf-8")
        from lhotse.serialization import open_best

        with open_best(path, "r") as f:
            return f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: missing: not a shard dir (made by 'asr shar DATA_DIR "
                        "OUT_DIR')") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e}") from None
