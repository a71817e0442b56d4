"""The ``asr`` command: one subcommand per module in asr.bin."""

from __future__ import annotations

import argparse
import importlib
import sys

from asr.errors import OPTIMIZE_MESSAGE, AsrError

# subcommand -> module in asr.bin; each module's docstring is its help text
COMMANDS = {
    "fbank": "fbank",
    "speed-perturb": "speed_perturb",
    "augment-data": "augment_data",
    "make-rirs": "make_rirs",
    "cmvn": "cmvn",
    "tokenizer": "tokenizer",
    "train": "train",
    "average": "average",
    "decode": "decode",
    "transcribe": "transcribe",
    "align": "align",
    "score": "score",
    "score-ctm": "score_ctm",
    "export": "export",
    "train-lm": "train_lm",
    "compile-lm": "compile_lm",
    "validate-data": "validate_data",
    "fix-data": "fix_data",
    "subset-data": "subset_data",
    "combine-data": "combine_data",
    "copy-data": "copy_data",
    "lhotse-import": "lhotse_import",
    "lhotse-export": "lhotse_export",
    "shar": "shar",
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The docstring as written, and every option's default after its help (unless the
    help already says it, or there is none to say: None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text \
                or not action.option_strings or isinstance(action.default, bool):
            return text
        return f"{text} (default: %(default)s)"


def summary(doc: str) -> str:
    """The first sentence of a command's docstring, for the list of commands."""
    text = " ".join(doc.split())
    end = text.find(". ")
    return (text if end < 0 else text[:end + 1]).replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asr", description="Kaldi-style end-to-end speech recognition with CTC.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"asr.bin.{module_name}")
        doc = (module.__doc__ or "").strip()
        p = sub.add_parser(name, help=summary(doc) if doc else None, description=doc,
                           formatter_class=HelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()  # imports every subcommand, torchaudio among them
    except AsrError as e:
        print(f"asr: error: {e}", file=sys.stderr)
        return 2
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command line as given, for the records a command keeps
    if sys.flags.optimize:
        print(f"asr {args.command}: error: {OPTIMIZE_MESSAGE}", file=sys.stderr)
        return 2
    from asr.device import flush_denormals

    flush_denormals()
    try:
        rc = args._main(args)
    except AsrError as e:
        print(f"asr {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system refused an output path (a file in the way, no
        # permission, disk full): the OS's message names the path; inputs are checked earlier
        print(f"asr {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"asr {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
