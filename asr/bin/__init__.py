"""One module per ``asr`` subcommand, each with add_arguments(parser) and main(args); the
options several subcommands share are defined here, once."""

from __future__ import annotations

import argparse


def add_no_pipes_argument(p: argparse.ArgumentParser) -> None:
    """``--no-pipes`` (sets ``args.allow_pipes`` False) for commands that read wav.scp audio."""
    p.add_argument("--no-pipes", dest="allow_pipes", action="store_false",
                   help="refuse wav.scp/feats.scp entries of the form 'cmd |' (reading them "
                        "runs cmd in a shell) before anything is read, instead of running them")


def parse_range(option: str, value: str) -> tuple[float, float]:
    """'0:20' -> (0.0, 20.0); '10' -> (10.0, 10.0)."""
    from asr.errors import AsrError

    parts = value.split(":")
    try:
        if len(parts) in (1, 2):
            return float(parts[0]), float(parts[-1])
    except ValueError:
        pass
    raise AsrError(f"{option}: expected LOW:HIGH (or one number), got '{value}'")
