"""Compile an ARPA n-gram LM into the memory-mapped tables that shallow fusion reads.

'asr decode --lm LM.arpa' does this on first use (into LM.asrlm beside the ARPA file)
and maps the result on every later decode; this command does it ahead of time, or into
another place (a read-only LM dir, an exp dir). Give the output to --lm directly.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arpa", type=Path, help="ARPA file (e.g. from 'asr train-lm' or KenLM)")
    p.add_argument("out", type=Path, nargs="?",
                   help="compiled LM to write (default: the ARPA path with suffix .asrlm)")


def main(args: argparse.Namespace) -> int:
    from asr.lm.compiled_lm import compile_arpa, default_compiled_path
    from asr.log_setup import setup_logging

    setup_logging()
    out = args.out if args.out is not None else default_compiled_path(args.arpa)
    if out.resolve() == args.arpa.resolve():
        from asr.errors import AsrError

        raise AsrError(f"{out}: the output would overwrite the ARPA file; give another OUT")
    compile_arpa(args.arpa, out)
    return 0
