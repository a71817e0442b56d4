"""Subset, combine and copy Kaldi data dirs for recipes (Kaldi's subset_data_dir.sh,
combine_data.sh and copy_data_dir.sh), on one representation: file name -> entries.

The files that describe the whole set go along: feats.yaml (the features' options) and
cmvn.ark (global CMVN stats; summed when combining, as the stats are sums and counts).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from asr.data.kaldi_dir import (
    CMVN_STATS,
    FEATS_CONFIG,
    SET_FILES,
    UTT_FILES,
    DataDir,
    iter_kv,
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


def copy_set_files(src: Path, dst: Path) -> list[str]:
    """Copy feats.yaml and cmvn.ark of ``src`` (those present) into ``dst``; return them."""
    copied = [n for n in SET_FILES if (Path(src) / n).is_file()]
    for name in copied:
        shutil.copyfile(Path(src) / name, Path(dst) / name)
    return copied


def combine_set_files(srcs: list[Path]) -> Callable[[Path], None]:
    """Check the feats.yaml and cmvn.ark of ``srcs``, before anything is written; return
    the function writing them into a dir: feats.yaml (the same in every source, else a
    DataError) and cmvn.ark (the sum of the sources' stats: exact when each is its own)."""
    from asr.data.cmvn_stats import load_stats, save_stats
    from asr.data.features import read_feats_config

    srcs = [Path(s) for s in srcs]
    present = {n: all((s / n).is_file() for s in srcs) for n in SET_FILES}
    for name in SET_FILES:
        if not present[name] and any((s / name).is_file() for s in srcs):
            log.warning("%s: not in every source dir; left out", name)
    if present[FEATS_CONFIG]:
        for s in srcs[1:]:
            if read_feats_config(s) != read_feats_config(srcs[0]):
                raise DataError(f"{s / FEATS_CONFIG} and {srcs[0] / FEATS_CONFIG} differ: "
                                "features made with other options cannot be combined "
                                "(re-run 'asr fbank --force' with one config)")
    stats = [load_stats(s / CMVN_STATS) for s in srcs] if present[CMVN_STATS] else []
    for s, st in zip(srcs, stats, strict=False):
        if st.shape != stats[0].shape:
            raise DataError(f"{s / CMVN_STATS}: stats of dim {st.shape[1] - 1}, but "
                            f"{srcs[0] / CMVN_STATS} has dim {stats[0].shape[1] - 1}")

    def write(dst: Path) -> None:
        if present[FEATS_CONFIG]:
            shutil.copyfile(srcs[0] / FEATS_CONFIG, Path(dst) / FEATS_CONFIG)
        if stats:
            save_stats(Path(dst) / CMVN_STATS, sum(stats[1:], stats[0]))

    return write


def read_utt_list(path: Path) -> list[str]:
    """The first word of each non-blank line of ``path``, checked: exists, is UTF-8."""
    out = []
    for line in iter_kv(path):
        if line.problem == "utf8":
            raise DataError(f"{path}:{line.lineno}: not valid UTF-8 ({line.value})")
        if line.problem is None:
            out.append(line.key)
    return out


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
    of ``speakers`` into ``dst``; return how many. feats.yaml and cmvn.ark are copied:
    the stats are then the whole source's (a fine normalizer; 'asr cmvn DST' recomputes)."""
    if sum(x is not None for x in (utt_list, first, speakers)) != 1:
        raise DataError("give exactly one of --utt-list, --first, --speakers")
    files = read_files(src)
    utts = sorted(files[utt_keyed_files(files)[0]])
    if utt_list is not None:
        wanted = read_utt_list(utt_list)
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
    n = write_files(dst, select(files, keep))
    if CMVN_STATS in copy_set_files(src, dst):
        log.info("%s: copied from %s: the CMVN stats of all of %s ('asr cmvn %s' computes "
                 "the subset's own)", Path(dst) / CMVN_STATS, src, src, dst)
    return n


def combine_data_dirs(dst: Path, srcs: list[Path]) -> int:
    """Union of data dirs into ``dst``. Utterance ids must be distinct; a file missing from
    any source is left out (with a warning), as Kaldi's combine_data.sh does. feats.yaml
    must agree across the sources; cmvn.ark becomes the sum of their stats."""
    all_files = [read_files(s) for s in srcs]
    write_set_files = combine_set_files(srcs)
    common = set.intersection(*(set(f) for f in all_files))
    for name in sorted(set().union(*all_files) - common):
        log.warning("%s: not in every source dir; left out of %s", name, dst)
    out: Files = {n: {} for n in common}
    for src, files in zip(srcs, all_files, strict=True):
        for name in common:
            for key, value in files[name].items():
                if out[name].get(key, value) != value:
                    prefix = "--spk-prefix" if name in SPEAKER_FILES else "--utt-prefix"
                    raise DataError(f"{src / name}: key '{key}' is also in another source dir "
                                    "with a different value (make ids unique with "
                                    f"'asr copy-data {prefix}')")
                out[name][key] = value
    n = write_files(dst, out)
    write_set_files(dst)
    return n


def copy_data_dir(src: Path, dst: Path, utt_prefix: str = "", spk_prefix: str = "") -> int:
    """Copy ``src`` to ``dst``, prefixing utterance and speaker ids (recording ids stay);
    cmvn.scp keys get the speaker prefix, feats.yaml and cmvn.ark are copied as they are."""
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
    n = write_files(dst, out)
    copy_set_files(src, dst)
    return n
