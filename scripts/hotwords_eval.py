#!/usr/bin/env python3
"""What a hotword list does: %WER on the utterances whose transcript holds a hotword and on
the others, and how often a hotword appears where it was not said, per hotword weight.

    python scripts/hotwords_eval.py --exp-dir EXP --data-dir DATA --hotwords HOT \\
        --out OUT [--weights 0,1,2,3] [-- more asr decode options]

Each weight decodes DATA with `asr decode --method prefix_beam --hotwords HOT
--hotword-weight W` (weight 0: no hotwords) into OUT/w<W>; the hotwords' own weights are
ignored (every one gets W). Prints a markdown table; a hotword "false alarm" is a word of
the list in a hypothesis whose reference does not have it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from asr.data.kaldi_dir import read_kv
from asr.decode.hotwords import read_hotwords
from asr.scoring import score


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--hotwords", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--weights", default="0,1,2,3")
    p.add_argument("decode_args", nargs="*", help="more 'asr decode' options, after --")
    args = p.parse_args()
    phrases = [ph for ph, _ in read_hotwords(args.hotwords)]
    plain = args.out / "hotwords_plain.txt"
    args.out.mkdir(parents=True, exist_ok=True)
    plain.write_text("".join(f"{ph}\n" for ph in phrases))
    refs = read_kv(args.data_dir / "text", what="transcript")
    hot = {u for u, t in refs.items() if any(f" {ph} " in f" {t} " for ph in phrases)}
    print(f"{args.data_dir}: {len(hot)} of {len(refs)} utterances hold one of "
          f"{len(phrases)} hotwords\n")
    print("| weight | %WER, hotword utterances | %WER, the others | false alarms |")
    print("|---|---|---|---|")
    for w in args.weights.split(","):
        out = args.out / f"w{w}"
        cmd = ["asr", "decode", "--exp-dir", str(args.exp_dir), "--data-dir",
               str(args.data_dir), "--out", str(out), "--method", "prefix_beam",
               *args.decode_args]
        if float(w) > 0:
            cmd += ["--hotwords", str(plain), "--hotword-weight", w]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        hyps = read_kv(out / "hyp", allow_empty=True)
        on = score({u: refs[u] for u in hot}, {u: hyps[u] for u in hot})
        off = score({u: t for u, t in refs.items() if u not in hot},
                    {u: hyps[u] for u in refs if u not in hot})
        alarms = sum(1 for u, h in hyps.items() for ph in phrases
                     if f" {ph} " in f" {h} " and f" {ph} " not in f" {refs[u]} ")
        print(f"| {w} | {on.summary()[5:]} | {off.summary()[5:]} | {alarms} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
