"""Write a Kaldi data dir as lhotse Shar shards, for data.source: lhotse_shar.

OUT_DIR gets cuts.NNNNNN.jsonl.gz with recording.NNNNNN.tar (FLAC audio, 16-bit: the
int16 scale fbank reads) or features.NNNNNN.tar (the feats.scp matrices, lossless .npy),
--shard-size utterances each in data-dir order, and shards.json: every cut's length and
every file's size and SHA-256. Each shard is read back and compared with its source
before it counts; a killed run started again resumes at the first unfinished shard.
--verify checks an existing OUT_DIR's files against their recorded SHA-256 instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.bin import add_no_pipes_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR", nargs="?",
                   help="the Kaldi data dir to write (text and wav.scp or feats.scp)")
    p.add_argument("out", type=Path, metavar="OUT_DIR", help="the shard dir")
    p.add_argument("--shard-size", type=int, default=1000,
                   help="utterances per shard (docs/scale.md: aim at 100 MB-1 GB shards)")
    p.add_argument("--content", choices=("audio", "features"),
                   help="what the shards hold (default: features when DATA_DIR has a "
                        "feats.scp, else audio)")
    p.add_argument("--verify", action="store_true",
                   help="only check OUT_DIR: every file present, its size and SHA-256 as "
                        "written")
    add_no_pipes_argument(p)


def main(args: argparse.Namespace) -> int:
    from asr.data.shar_index import ShardIndex
    from asr.data.shar_write import write_shards
    from asr.errors import AsrError

    if args.verify:
        index = ShardIndex.load(args.out)
        index.check_files(args.out, checksums=True)
        print(f"{args.out}: {len(index.shards)} shards, {index.num_utterances} cuts: "
              "every file as written")
        return 0
    if args.data_dir is None:
        raise AsrError("give DATA_DIR OUT_DIR (or OUT_DIR --verify)")
    index = write_shards(args.data_dir, args.out, args.shard_size, args.content,
                         args.allow_pipes)
    size = sum(m["bytes"] for s in index.shards for m in s.files.values())
    print(f"{args.out}: {index.num_utterances} cuts of {index.content} in "
          f"{len(index.shards)} shards, {size / 1e6:.1f} MB")
    return 0
