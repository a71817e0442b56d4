#!/usr/bin/env python3
"""Does `asr align` find wrong transcripts? Swap a fraction of a data dir's transcripts,
align, and count how many of the swapped ones it flags and how many good ones it flags.

    python scripts/wrong_transcripts.py --exp-dir EXP --data-dir DATA --out OUT \\
        [--fraction 0.05] [--seed 0] [-- asr align options, e.g. --threshold=-0.5]

Writes OUT/data (a copy of DATA whose text has the chosen utterances' transcripts
rotated among them, none left with its own: a transcript of the same dir that belongs to
other audio, the usual data-prep mistake) and OUT/swapped (their ids), runs `asr align`
into OUT/align, and prints the flagged share of the swapped and of the other utterances.
--fraction 1 swaps every transcript: the score distribution of wrong transcripts, for
choosing a threshold on a dev set.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
from pathlib import Path

from asr.data.kaldi_dir import read_kv, write_kv


def swap(texts: dict[str, str], fraction: float, seed: int) -> dict[str, str]:
    """``texts`` with round(fraction * N) (at least 2) transcripts rotated among their
    utterances, each chosen one's differing from the one before it (so the rotation gives
    it another; only the last, which gets the first's, may keep an equal one)."""
    rng = random.Random(seed)
    utts = list(texts)
    rng.shuffle(utts)
    k = max(2, round(fraction * len(utts)))
    chosen: list[str] = []
    for u in utts:
        if len(chosen) == k:
            break
        if not chosen or texts[u] != texts[chosen[-1]]:
            chosen.append(u)
    out = dict(texts)
    for i, u in enumerate(chosen):  # u gets the next one's transcript, the last the first's
        out[u] = texts[chosen[(i + 1) % len(chosen)]]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--fraction", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("align_args", nargs="*", help="more 'asr align' options, after --")
    args = p.parse_args()
    texts = read_kv(args.data_dir / "text", what="transcript")
    new = swap(texts, args.fraction, args.seed)
    swapped = sorted(u for u in texts if new[u] != texts[u])
    data = args.out / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    for f in args.data_dir.iterdir():
        if f.is_file() and f.name != "text":
            shutil.copy(f, data / f.name)
    write_kv(data / "text", {u: new[u] for u in texts})
    (args.out / "swapped").write_text("".join(f"{u}\n" for u in swapped))
    subprocess.run(["asr", "align", "--exp-dir", str(args.exp_dir), "--data-dir", str(data),
                    "--out", str(args.out / "align"), *args.align_args], check=True)
    flagged = set(read_kv(args.out / "align" / "flagged", allow_empty=True))
    good = len(texts) - len(swapped)
    found = len(flagged & set(swapped))
    false = len(flagged - set(swapped))
    print(f"{args.data_dir}: {len(swapped)} of {len(texts)} transcripts swapped; flagged "
          f"{found} of them ({100 * found / max(1, len(swapped)):.1f} %) and {false} of the "
          f"other {good} ({100 * false / max(1, good):.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
