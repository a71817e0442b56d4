"""Check a Kaldi data dir: readable files, consistent ids, non-empty transcripts.

Exits 0 and prints a summary when the dir is usable; otherwise names the first problem.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR")


def main(args: argparse.Namespace) -> int:
    from asr.data.kaldi_dir import DataDir, spk2utt_from_utt2spk
    from asr.errors import DataError

    d = DataDir.load(args.data_dir)
    if d.utt2spk is not None and (args.data_dir / "spk2utt").is_file():
        from asr.data.kaldi_dir import read_kv

        expected = {s: " ".join(u) for s, u in spk2utt_from_utt2spk(d.utt2spk).items()}
        if read_kv(args.data_dir / "spk2utt", what="utterance list") != expected:
            raise DataError(f"{args.data_dir}: spk2utt disagrees with utt2spk")
    if d.text is not None:
        no_text = [u for u in d.utt_ids if u not in d.text]
        if no_text:
            raise DataError(f"{args.data_dir}: {len(no_text)} utterances have no transcript, "
                            f"e.g. '{no_text[0]}'")
    files = [n for n, v in (("wav.scp", d.wav_scp), ("text", d.text), ("utt2spk", d.utt2spk),
                            ("feats.scp", d.feats_scp)) if v is not None]
    print(f"{args.data_dir}: {len(d.utt_ids)} utterances, ok ({', '.join(files)})")
    return 0
