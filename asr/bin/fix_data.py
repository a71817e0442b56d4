"""Repair a Kaldi data dir: keep the utterances consistent across all its files.

Drops utterances missing from any per-utterance file or with an unusable line (bad UTF-8,
empty transcript, malformed value), keeps the first of duplicate keys, sorts every file,
regenerates spk2utt and filters wav.scp/cmvn.scp to what is used. The originals are kept
in DATA_DIR/.backup/. Prints every dropped id with the reason.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="the dir to repair in place")


def main(args: argparse.Namespace) -> int:
    from asr.data.validate import BACKUP, fix_data_dir

    dropped = fix_data_dir(args.data_dir)
    total = sum(len(v) for k, v in dropped.items() if k != "unused_recording")
    print(f"{args.data_dir}: dropped {total} utterances (originals in "
          f"{args.data_dir / BACKUP})")
    for reason, ids in sorted(dropped.items()):
        print(f"  {reason}: {len(ids)}: {' '.join(ids)}")
    return 0
