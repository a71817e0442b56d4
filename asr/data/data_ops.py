"""Subset, combine and copy Kaldi data dirs for recipes (Kaldi's subset_data_dir.sh,
combine_data.sh and copy_data_dir.sh), on one representation: file name -> entries."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from asr.data.kaldi_dir import (
    UTT_FILES,
    DataDir,
    read_kv,
    spk2utt_from_utt2spk,
    utt_keyed_files,
    write_kv,
)
from asr.errors import DataError

log = logging.getLogger(__name__)
Files = dict[str, dict[str, str]]  # file name -> key -> value
SPEAKER_FILES = ("cmvn.scp",)


def read_files(path: Path) -> Files:
    """Every standard file of a data dir, after checking the dir is consistent."""
    DataDir.load(path)
    files = {}
    for name in ("wav.scp", *UTT_FILES, *SPEAKER_FILES):
        if (Path(path) / name).is_file():
            files[name] = read_kv(Path(path) / name)
    return files


def write_files(path: Path, files: Files) -> int:
    """Write ``files`` into the data dir ``path`` (spk2utt from utt2spk); return #utterances."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for name, entries in files.items():
        write_kv(path / name, entries)
    if "utt2spk" in files:
        write_kv(path / "spk2utt", {s: " ".join(u) for s, u in
                                    spk2utt_from_utt2spk(files["utt2spk"]).items()})
    return len(files[utt_keyed_files(files)[0]])


def select(files: Files, keep: Iterable[str]) -> Files:
    """The entries of the utterances in ``keep`` (and the recordings and speakers they use)."""
    keep = set(keep)
    out = {n: {u: v for u, v in files[n].items() if u in keep} for n in utt_keyed_files(files)}
    if "segments" in files and "wav.scp" in files:
        recs = {v.split()[0] for v in out["segments"].values()}
        out["wav.scp"] = {r: v for r, v in files["wav.scp"].items() if r in recs}
    # without utt2spk each utterance is its own speaker (Kaldi's rule)
    spks = set(out["utt2spk"].values()) if "utt2spk" in out else keep
    for name in SPEAKER_FILES:
        if name in files:
            out[name] = {s: v for s, v in files[name].items() if s in spks}
    return out


def subset_data_dir(src: Path, dst: Path, utt_list: Path | None = None, first: int | None = None,
                    speakers: list[str] | None = None) -> int:
    """Copy the utterances named in ``utt_list``, the first ``first`` ones (sorted), or those
    of ``speakers`` into ``dst``; return how many."""
    if sum(x is not None for x in (utt_list, first, speakers)) != 1:
        raise DataError("give exactly one of --utt-list, --first, --speakers")
    files = read_files(src)
    utts = sorted(files[utt_keyed_files(files)[0]])
    if utt_list is not None:
        wanted = [line.split()[0] for line in Path(utt_list).read_text().splitlines()
                  if line.strip()]
        known = set(utts)
        unknown = [u for u in wanted if u not in known]
        if unknown:
            raise DataError(f"{utt_list}: {len(unknown)} utterances are not in {src}, "
                            f"e.g. '{unknown[0]}'")
        keep = wanted
    elif first is not None:
        keep = utts[:first]
    else:
        if "utt2spk" not in files:
            raise DataError(f"{src}: --speakers needs utt2spk")
        spk = set(speakers or [])
        keep = [u for u, s in files["utt2spk"].items() if s in spk]
    if not keep:
        raise DataError(f"{src}: the subset is empty")
    return write_files(dst, select(files, keep))


def combine_data_dirs(dst: Path, srcs: list[Path]) -> int:
    """Union of data dirs into ``dst``. Utterance ids must be distinct; a file missing from
    any source is left out (with a warning), as Kaldi's combine_data.sh does."""
    all_files = [read_files(s) for s in srcs]
    common = set.intersection(*(set(f) for f in all_files))
    for name in sorted(set().union(*all_files) - common):
        log.warning("%s: not in every source dir; left out of %s", name, dst)
    out: Files = {n: {} for n in common}
    for src, files in zip(srcs, all_files, strict=True):
        for name in common:
            for key, value in files[name].items():
                if out[name].get(key, value) != value:
                    raise DataError(f"{src / name}: key '{key}' is also in another source dir "
                                    "with a different value (make ids unique with "
                                    "'asr copy-data --utt-prefix')")
                out[name][key] = value
    return write_files(dst, out)


def copy_data_dir(src: Path, dst: Path, utt_prefix: str = "", spk_prefix: str = "") -> int:
    """Copy ``src`` to ``dst``, prefixing utterance and speaker ids (recording ids stay)."""
    files = read_files(src)
    out: Files = {}
    for name, entries in files.items():
        if name in SPEAKER_FILES:
            out[name] = {spk_prefix + s: v for s, v in entries.items()}
        elif name == "wav.scp" and "segments" in files:
            out[name] = dict(entries)
        elif name == "utt2spk":
            out[name] = {utt_prefix + u: spk_prefix + s for u, s in entries.items()}
        else:
            out[name] = {utt_prefix + u: v for u, v in entries.items()}
    return write_files(dst, out)
