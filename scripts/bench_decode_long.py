#!/usr/bin/env python3
"""Decode hours of audio with 'asr decode': whole-command RTF, search share, peak RSS.

Builds (once, under --dir) two connected-digit data dirs from the FSDD recordings the
way the digits recipe does (1-7 takes of one speaker joined with short noise pauses):
about 1 h (2 passes over the takes) and about 5 h (12 passes). Then runs the full
'asr decode' command on each, in a fresh process, and reports the wall time over the
audio (RTF, model load and speaker-CMVN pass included), the share of it the search
took (from the command's own log line), and the process's peak RSS. The ratio column
compares each run with the 1 h run of the same search: RTF should stay about 1, and so
should the peak RSS (memory must not grow with the data dir).

    python scripts/bench_decode_long.py --exp-dir /tmp/new/exp/bilstm \\
        [--fsdd-dir /work/shared/data/fsdd/recordings] [--dir /tmp/bench_long]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Row, print_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SETS = {"1h": 2, "5h": 12}  # passes over FSDD's 2500 takes: about 26 min of audio each


def recipe_prep():
    """The digits recipe's data preparation module (its scan and make_set)."""
    path = ROOT / "recipes" / "digits" / "local" / "prepare_fsdd.py"
    spec = importlib.util.spec_from_file_location("prepare_fsdd", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_sets(fsdd_dir: Path, out: Path) -> None:
    prep = recipe_prep()
    by_spk = prep.scan(fsdd_dir)
    for name, passes in SETS.items():
        if not (out / name / "wav.scp").is_file():
            prep.make_set(name, by_spk, passes, out, random.Random(passes), max_digits=7)


def decode(exp: Path, data_dir: Path, out: Path, extra: list[str]) -> dict:
    """Run 'asr decode' in a fresh process; its wall time, peak RSS and logged times."""
    cmd = [sys.executable, "-m", "asr", "decode", "--exp-dir", str(exp), "--data-dir",
           str(data_dir), "--out", str(out), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{log}")
    audio = float(re.search(r"([\d.]+) s of audio in", log).group(1))
    feats, model, search = (float(x) for x in re.search(
        r"time: features ([\d.]+) s, model ([\d.]+) s, search ([\d.]+) s", log).groups())
    wer = re.search(r"%WER [\d.]+", log)
    return {"wall": wall, "audio": audio, "features": feats, "model": model, "search": search,
            "rss_mb": usage.ru_maxrss / 1024, "wer": wer.group(0) if wer else "-"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--fsdd-dir", type=Path, default=Path("/work/shared/data/fsdd/recordings"))
    p.add_argument("--dir", type=Path, default=Path("/tmp/bench_long"))
    p.add_argument("--beam", type=int, default=10)
    args = p.parse_args()
    make_sets(args.fsdd_dir, args.dir)
    beam = ["--method", "prefix_beam", "--beam", str(args.beam)]
    runs = [("1h", "prefix beam, 1 search thread", [*beam, "--search-threads", "1"]),
            ("1h", "prefix beam, all cores", beam),
            ("5h", "prefix beam, all cores", beam)]
    res = {}
    load = [os.getloadavg()[0]]
    for name, what, extra in runs:
        res[name, what] = decode(args.exp_dir, args.dir / name, args.dir / f"decode_{name}",
                                 extra)
        load.append(os.getloadavg()[0])
    rows, sections = [], []
    for (name, what), r in res.items():
        ref = res["1h", what] if ("1h", what) in res else r
        base = res["1h", "prefix beam, 1 search thread"]
        label = f"{name} ({r['audio'] / 3600:.2f} h), {what}"
        for metric, ours, refv in (
                ("RTF, whole command", r["wall"] / r["audio"], ref["wall"] / ref["audio"]),
                ("search seconds", r["search"], base["search"] * r["audio"] / base["audio"]),
                ("peak RSS MB", r["rss_mb"], ref["rss_mb"])):
            rows.append(Row(metric, f"{ours:.4f}" if metric.startswith("RTF") else
                            f"{ours:.1f}", f"{refv:.4f}" if metric.startswith("RTF") else
                            f"{refv:.1f}", f"{ours / refv:.2f}"))
            sections.append(label)
        share = r["search"] / r["wall"]
        rows.append(Row("search share of the wall time", f"{100 * share:.1f}%"))
        rows.append(Row("features / model / search seconds, wall",
                        f"{r['features']:.1f} / {r['model']:.1f} / {r['search']:.1f}, "
                        f"{r['wall']:.1f}"))
        rows.append(Row("score", r["wer"]))
        sections += [label] * 3
    print_table([f"asr decode --exp-dir {args.exp_dir} --beam {args.beam}, "
                 f"{os.cpu_count()} cores; reference: the 1 h run of the same search "
                 "(search seconds: the 1-thread 1 h run, scaled to the audio)",
                 "1-minute load average before and after each run: "
                 + " ".join(f"{x:.1f}" for x in load)], rows, sections)


if __name__ == "__main__":
    main()
