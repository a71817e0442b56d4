"""Write a Kaldi data dir from lhotse manifests (recordings and supervisions).

Writes wav.scp, text, utt2spk, spk2utt, utt2dur and, unless every supervision spans its
whole recording, segments.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifests", type=Path, nargs="?", metavar="MANIFEST_DIR",
                   help="holds recordings.jsonl.gz and supervisions.jsonl.gz")
    p.add_argument("out", type=Path, metavar="OUT_DIR", help="the Kaldi data dir to write")
    p.add_argument("--recordings", type=Path, help="a RecordingSet file (e.g. from lhotse "
                   "prepare: librispeech_recordings_dev-clean.jsonl.gz)")
    p.add_argument("--supervisions", type=Path, help="the matching SupervisionSet file")


def main(args: argparse.Namespace) -> int:
    from asr.data.lhotse_io import export_manifests
    from asr.errors import AsrError

    if args.manifests is None and not (args.recordings and args.supervisions):
        raise AsrError("give MANIFEST_DIR, or both --recordings and --supervisions")
    n = export_manifests(args.manifests, args.out, args.recordings, args.supervisions)
    print(f"{args.out}: {n} utterances from {args.recordings or args.manifests}")
    return 0
