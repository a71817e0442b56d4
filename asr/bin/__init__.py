"""One module per ``asr`` subcommand, each with add_arguments(parser) and main(args); the
options several subcommands share are defined here, once."""

from __future__ import annotations

import argparse


def add_no_pipes_argument(p: argparse.ArgumentParser) -> None:
    """``--no-pipes`` (sets ``args.allow_pipes`` False) for commands that read wav.scp audio."""
    p.add_argument("--no-pipes", dest="allow_pipes", action="store_false",
                   help="refuse wav.scp/feats.scp entries of the form 'cmd |' (reading them "
                        "runs cmd in a shell) before anything is read, instead of running them")
