#!/usr/bin/env python3
"""Feature reading for training, the same synthetic features two ways in one run: Kaldi arks
read utterance by utterance in a shuffled order (ArkReader by feats.scp offset, as the
data-dir path of training reads them) against ``asr shar`` shards read front to back
(iterate_shard + shard_data, as the shard path of training reads them).

Shards exist to turn random reads into sequential ones: this measures how much that buys,
from a cold page cache (each file's cached pages dropped before every pass, checked with
mincore) and from a warm one (the same files read again at once). Reported per method:
utterances/s, MB/s of float32 features delivered and of file bytes read, seconds, CPU
seconds per wall second, and shards/arks (utterances/s, same run, same cache state).

    python scripts/bench_shards.py [--hours 20] [--work-dir DIR] [--passes 2] [--keep]

The data (``--hours`` of 80-dim frames at 100 frames/s, log-normal utterance lengths around
6 s, seeded random values; about 1.15 GB per 10 h for each copy) is generated in
``--work-dir`` and reused from there by a later run with the same --hours, --seed and
--utts-per-ark; without --keep it is deleted at the end.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os
import platform
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import kaldiio
import numpy as np

from asr.config import save_config
from asr.config.schema import FbankConfig
from asr.data.ark import ArkReader
from asr.data.consistency import spk2utt_from_utt2spk
from asr.data.kaldi_dir import read_kv, write_kv
from asr.data.shar_read import iterate_shard, open_index, shard_data
from asr.data.shar_write import write_shards
from asr.errors import DataError

DIM, FPS = 80, 100  # 80-dim fbank, 10 ms frame shift
# read speech (LibriSpeech-like): log-normal lengths, median 6 s, most within 2-16 s
MEDIAN_S, SIGMA, MIN_S, MAX_S = 6.0, 0.5, 1.0, 25.0
UTTS_PER_SPEAKER = 50
WORDS_PER_S = 2.7  # read English: ~2.7 words a second, so the cuts' JSON is of real size
VOCAB = ("THE", "OF", "AND", "TO", "A", "IN", "THAT", "HE", "WAS", "IT", "HIS", "WITH",
         "HAD", "AS", "FOR", "HER", "BUT", "NOT", "SHE", "SPEECH", "MORNING", "READING")
META = "bench_shards.json"  # the generation parameters, written last: a killed run redoes it
DROP_CACHES = "/proc/sys/vm/drop_caches"
ARKS, SHARDS = "arks, random access", "shards, sequential"
MB = 1e6


@dataclass
class Pass:
    method: str
    cache: str  # "cold" or "warm"
    number: int
    seconds: float
    cpu_seconds: float
    utterances: int
    feature_bytes: int
    resident: float | None  # fraction of the method's file pages in the page cache before


@dataclass
class Copy:
    """One copy of the data: the files a pass reads and the reader of one pass."""

    method: str
    files: list[Path]
    read: Callable[[int], tuple[int, int]]  # pass number -> (utterances, feature bytes)
    warm_up: Callable[[], object]  # reads one utterance: first-call costs out of the timing

    @property
    def bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=20.0, help="hours of features (100 frames/s)")
    p.add_argument("--work-dir", type=Path,
                   default=Path(tempfile.gettempdir()) / "bench_shards",
                   help="where the data dir and the shards are made (and reused from)")
    p.add_argument("--passes", type=int, default=2, help="cold (+ warm) passes per method")
    p.add_argument("--shard-size", type=int, default=1000, help="utterances per shard")
    p.add_argument("--utts-per-ark", type=int, default=1000,
                   help="utterances per ark file (one 'asr fbank' job's worth)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-warm", action="store_true", help="cold passes only")
    p.add_argument("--no-drop-caches", action="store_true",
                   help=f"drop the files' pages with posix_fadvise only, not the whole "
                        f"machine's page cache with {DROP_CACHES} (for a shared machine)")
    p.add_argument("--keep", action="store_true",
                   help="keep the data in --work-dir (a later run reuses it)")
    return p


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def generate(data: Path, hours: float, seed: int, utts_per_ark: int) -> None:
    """A features-only Kaldi data dir: arks and feats.scp (kaldiio), text, utt2spk, spk2utt,
    utt2num_frames and feats.yaml, as 'asr fbank' leaves one."""
    rng = np.random.default_rng(seed)
    target = max(1, round(hours * 3600 * FPS))
    lengths: list[int] = []
    while sum(lengths) < target:
        seconds = float(np.clip(rng.lognormal(np.log(MEDIAN_S), SIGMA), MIN_S, MAX_S))
        lengths.append(round(seconds * FPS))
    utts = [f"spk{i // UTTS_PER_SPEAKER:04d}-utt{i:07d}" for i in range(len(lengths))]
    arks = data / "feats"
    arks.mkdir(parents=True)
    scp: dict[str, str] = {}
    for job, first in enumerate(range(0, len(utts), utts_per_ark)):
        ark, job_scp = arks / f"feats.{job + 1}.ark", arks / f"feats.{job + 1}.scp"
        with kaldiio.WriteHelper(f"ark,scp:{ark.resolve()},{job_scp.resolve()}") as writer:
            for utt, n in zip(utts[first:first + utts_per_ark],
                              lengths[first:first + utts_per_ark], strict=True):
                writer(utt, rng.standard_normal((n, DIM), dtype=np.float32))
        with open(ark, "rb") as f:
            os.fsync(f.fileno())
        scp.update(read_kv(job_scp, what="feature entry"))
        say(f"  ark {job + 1}: {min(first + utts_per_ark, len(utts))} of {len(utts)} utterances")
    text = {u: " ".join(rng.choice(VOCAB, max(1, round(n / FPS * WORDS_PER_S))))
            for u, n in zip(utts, lengths, strict=True)}
    utt2spk = {u: u.split("-")[0] for u in utts}
    write_kv(data / "feats.scp", scp)
    write_kv(data / "text", text)
    write_kv(data / "utt2spk", utt2spk)
    write_kv(data / "spk2utt", {s: " ".join(u) for s, u in spk2utt_from_utt2spk(utt2spk).items()})
    write_kv(data / "utt2num_frames", {u: str(n) for u, n in zip(utts, lengths, strict=True)})
    save_config(FbankConfig(num_mel_bins=DIM), data / "feats.yaml")


def prepare(args: argparse.Namespace) -> tuple[Path, Path, list[str]]:
    """The data dir and the shard dir (made, or reused when made with the same options);
    notes on what was done."""
    work = args.work_dir.resolve()
    data, shards = work / "data", work / f"shards-{args.shard_size}"
    meta = {"hours": args.hours, "seed": args.seed, "utts_per_ark": args.utts_per_ark,
            "dim": DIM, "fps": FPS, "lengths": [MEDIAN_S, SIGMA, MIN_S, MAX_S]}
    notes = []
    if (data / META).is_file() and json.loads((data / META).read_text()) == meta:
        notes.append(f"data dir reused from {data}")
    else:
        need = 2.1 * args.hours * 3600 * FPS * DIM * 4
        work.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(work).free
        if free < need:
            raise SystemExit(f"{work}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed")
        for old in [data, *work.glob("shards-*")]:
            shutil.rmtree(old, ignore_errors=True)  # shards of other data would be stale
        say(f"generating {args.hours} h of features in {data}")
        t = time.perf_counter()
        generate(data, args.hours, args.seed, args.utts_per_ark)
        (data / META).write_text(json.dumps(meta) + "\n")
        notes.append(f"data dir generated in {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    done = (shards / "shards.json").is_file()
    try:
        if done:
            open_index(str(shards))
    except DataError:
        done = False
    if done:
        notes.append(f"shards reused from {shards}")
    else:
        say(f"writing shards of {args.shard_size} utterances to {shards}")
        write_shards(data, shards, args.shard_size, content="features")
        notes.append(f"shards written by write_shards in {time.perf_counter() - t:.0f} s")
    return data, shards, notes


def ark_copy(data: Path, seed: int) -> Copy:
    """Every utterance of feats.scp through one ArkReader (the training path's
    PrecomputedFeats), in a shuffled order drawn per pass."""
    scp = read_kv(data / "feats.scp", what="feature entry")
    files = sorted({Path(rx.rpartition(":")[0]) for rx in scp.values()})

    def read(number: int) -> tuple[int, int]:
        order = sorted(scp)
        random.Random(f"{seed}/{number}").shuffle(order)
        reader = ArkReader()
        total = 0
        for utt in order:
            total += reader(utt, scp[utt]).nbytes
        return len(order), total

    first = min(scp)
    return Copy(ARKS, files, read, lambda: ArkReader()(first, scp[first]))


def shard_copy(shards: Path) -> Copy:
    """Every cut of every shard, shard after shard, with its features decoded (the training
    path's ShardBatches + ShardFeatures)."""
    index = open_index(str(shards))
    files = [shards / name for s in index.shards for name in sorted(s.files)]

    def read(number: int) -> tuple[int, int]:
        utts = total = 0
        for shard in index.shards:
            paths = index.paths(str(shards), shard)
            for cut in iterate_shard(paths, f"shard {shard.number} of {shards}"):
                total += shard_data(cut, "features").nbytes
                utts += 1
        return utts, total

    def warm_up() -> object:
        return shard_data(next(iterate_shard(index.paths(str(shards), index.shards[0]),
                                             "warm-up")), "features")

    return Copy(SHARDS, files, read, warm_up)


def resident_fraction(files: list[Path]) -> float | None:
    """The fraction of the files' pages in the page cache (mincore on a mapping, which
    reads nothing); None where that cannot be asked (not Linux, no libc)."""
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    page = mmap.PAGESIZE
    resident = total = 0
    for path in files:
        size = path.stat().st_size
        if size == 0:
            continue
        with open(path, "rb") as f:
            addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, f.fileno(), 0)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            return None
        try:
            pages = (size + page - 1) // page
            vec = (ctypes.c_ubyte * pages)()
            if libc.mincore(addr, size, vec) != 0:
                return None
            resident += int(np.count_nonzero(np.frombuffer(vec, dtype=np.uint8) & 1))
            total += pages
        finally:
            libc.munmap(addr, size)
    return resident / total if total else None


class Dropper:
    """Drops the files' cached pages: os.sync, posix_fadvise(DONTNEED) on each file (no root
    needed for clean pages), then, unless told not to and where this process may,
    'echo 1 > drop_caches' (the whole machine's page cache). Records what each did: the
    fraction of the files' pages still cached after fadvise alone (mincore)."""

    def __init__(self, drop_caches: bool) -> None:
        self.fadvise = "not tried"
        self.fadvise_left: list[float] = []
        self.drop_caches = "tried" if drop_caches else "not tried (--no-drop-caches)"

    def __call__(self, files: list[Path]) -> None:
        os.sync()
        try:
            for path in files:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
            self.fadvise = "called"
        except (AttributeError, OSError) as e:
            self.fadvise = f"failed ({type(e).__name__}: {e})"
        left = resident_fraction(files)
        if left is not None:
            self.fadvise_left.append(left)
        if self.drop_caches in ("tried", "allowed"):
            try:
                with open(DROP_CACHES, "w") as f:
                    f.write("1\n")
                self.drop_caches = "allowed"
            except OSError as e:
                self.drop_caches = f"not allowed ({type(e).__name__}: {e.strerror or e})"

    def report(self, cold: list[float | None]) -> str:
        """What was called, what each left cached, and whether the cold passes started cold."""
        fadvise = f"posix_fadvise(DONTNEED) on every ark/shard file after os.sync: {self.fadvise}"
        if self.fadvise_left:
            fadvise += f", left at most {pct(max(self.fadvise_left))} of their pages cached"
        known = [c for c in cold if c is not None]
        verdict = "not checked (no mincore here)" if not known else \
            f"{pct(max(known))} at most: cold" if max(known) < 0.05 else \
            f"up to {pct(max(known))}: NOT cold, the drop did not work"
        return (f"page cache: {fadvise}; echo 1 > {DROP_CACHES}: {self.drop_caches}; cached "
                f"before a cold pass (mincore): {verdict}")


def timed(copy: Copy, cache: str, number: int, resident: float | None) -> Pass:
    t, cpu = time.perf_counter(), time.process_time()
    utts, nbytes = copy.read(number)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    p = Pass(copy.method, cache, number, seconds, cpu, utts, nbytes, resident)
    say(f"  pass {number + 1} {cache} {copy.method}: {seconds:.2f} s, {utts / seconds:.0f} utt/s")
    return p


def pct(x: float | None) -> str:
    return "?" if x is None else f"{100 * x:.0f}%"


def rates(seconds: float, utts: int, feature_bytes: int, disk_bytes: int) -> list[str]:
    return [f"{utts / seconds:.0f}", f"{feature_bytes / MB / seconds:.0f}",
            f"{disk_bytes / MB / seconds:.0f}"]


def markdown(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
            *(line(r) for r in rows)]


def machine() -> list[str]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    return [f"command: {shlex.join(['python', *sys.argv])}",
            f"machine: {platform.node()}, {platform.platform()}, {os.cpu_count()} CPUs "
            f"({platform.processor() or platform.machine()}), {ram:.0f} GiB RAM, load average "
            f"{load} at start; Python {platform.python_version()}, numpy {np.__version__}"]


def filesystem(path: Path) -> str:
    """The type and device of the mount holding ``path`` (from /proc/mounts)."""
    best = ("", "?", "?")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mount, kind = line.split()[:3]
            if str(path).startswith(mount) and len(mount) >= len(best[0]):
                best = (mount, kind, dev)
    except OSError:
        pass
    return f"{best[1]} ({best[2]} on {best[0] or '?'})"


def summary(passes: list[Pass], copies: dict[str, Copy]) -> list[str]:
    head = ["cache", "method", "passes", "s (median)", "s (best)", "utt/s", "feature MB/s",
            "disk MB/s", "CPU s / s", "resident before", "shards/arks utt/s"]
    rows = []
    for cache in ("cold", "warm"):
        median = {}
        for method in (ARKS, SHARDS):
            mine = [p for p in passes if p.cache == cache and p.method == method]
            if not mine:
                continue
            median[method] = statistics.median(p.seconds for p in mine)
            cpu = statistics.median(p.cpu_seconds / p.seconds for p in mine)
            resident = [p.resident for p in mine if p.resident is not None]
            ratio = "1.00 (reference)" if method == ARKS else \
                f"{median[ARKS] / median[method]:.2f}" if ARKS in median else "-"
            rows.append([cache, method, str(len(mine)), f"{median[method]:.3f}",
                         f"{min(p.seconds for p in mine):.3f}",
                         *rates(median[method], mine[0].utterances, mine[0].feature_bytes,
                                copies[method].bytes),
                         f"{cpu:.2f}", pct(max(resident)) if resident else "?", ratio])
    return markdown(head, rows)


def per_pass(passes: list[Pass], copies: dict[str, Copy]) -> list[str]:
    head = ["pass", "cache", "method", "s", "utt/s", "feature MB/s", "disk MB/s", "CPU s / s",
            "resident before"]
    rows = [[str(p.number + 1), p.cache, p.method, f"{p.seconds:.3f}",
             *rates(p.seconds, p.utterances, p.feature_bytes, copies[p.method].bytes),
             f"{p.cpu_seconds / p.seconds:.2f}", pct(p.resident)] for p in passes]
    return markdown(head, rows)


def run(args: argparse.Namespace) -> list[str]:
    if args.passes < 1 or args.shard_size < 1 or args.utts_per_ark < 1 or args.hours <= 0:
        raise SystemExit("--passes, --shard-size, --utts-per-ark and --hours must be positive")
    top = machine()
    data, shards, notes = prepare(args)
    copies = {c.method: c for c in (ark_copy(data, args.seed), shard_copy(shards))}
    for copy in copies.values():
        copy.warm_up()
    drop = Dropper(not args.no_drop_caches)
    every_file = [f for c in copies.values() for f in c.files]
    notes.append(f"cached before the first drop: {pct(resident_fraction(every_file))} of "
                 "the ark and shard files")
    passes: list[Pass] = []
    for number in range(args.passes):
        methods = (ARKS, SHARDS) if number % 2 == 0 else (SHARDS, ARKS)  # alternate the order
        for method in methods:
            copy = copies[method]
            drop(every_file)
            passes.append(timed(copy, "cold", number, resident_fraction(copy.files)))
            if not args.no_warm:
                passes.append(timed(copy, "warm", number, resident_fraction(copy.files)))
    got = {(p.utterances, p.feature_bytes) for p in passes}
    if len(got) != 1:
        raise SystemExit(f"the methods delivered different data: (utterances, bytes) {got}")
    utts, nbytes = got.pop()
    arks, shard = copies[ARKS], copies[SHARDS]
    seconds = nbytes / 4 / DIM / FPS
    lines = top + [
        f"data: {utts} utterances, {seconds / 3600:.2f} h of {DIM}-dim float32 frames at "
        f"{FPS}/s (log-normal lengths, median {MEDIAN_S:.0f} s), {nbytes / MB:.0f} MB of "
        f"features, seed {args.seed}; MB = 10^6 bytes",
        f"arks: {len(arks.files)} files ({args.utts_per_ark} utterances each), "
        f"{arks.bytes / MB:.0f} MB, in {data}",
        f"shards: {len(shard.files)} files ({len(shard.files) // 2} shards of "
        f"{args.shard_size} utterances: cuts .jsonl.gz + features .tar), "
        f"{shard.bytes / MB:.0f} MB, in {shards}",
        f"filesystem: {filesystem(data)}",
        drop.report([p.resident for p in passes if p.cache == "cold"]),
        "cold: read right after the drop; warm: the same files read again at once; "
        f"passes alternate which method goes first; passes: {args.passes}",
        *notes]
    out = [f"# {n}" for n in lines]
    out += ["", "per pass:", "", *per_pass(passes, copies), "",
            "summary (rates from the median time; shards/arks > 1: shards faster):", "",
            *summary(passes, copies)]
    if not args.keep:
        shutil.rmtree(data)
        for d in args.work_dir.resolve().glob("shards-*"):
            shutil.rmtree(d)
        if not any(args.work_dir.iterdir()):
            args.work_dir.rmdir()
        out.append(f"\n# data deleted from {args.work_dir} (--keep keeps it for the next run)")
    return out


def main() -> None:
    print("\n".join(run(parser().parse_args())))


if __name__ == "__main__":
    main()
