"""The config reference (docs/config_reference.md), generated from the schema dataclasses.

Every key, its type, its default and its ``doc`` metadata in asr/config/schema.py. A test
regenerates it and fails when the committed file is stale:
``python -m asr.config.reference docs/config_reference.md`` rewrites it.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from pathlib import Path

from asr.config import schema


def _type_name(tp: object) -> str:
    if typing.get_origin(tp) is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(tp))
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _variants(tp: object) -> list[type]:
    return [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)]


def _section(cls: type, prefix: str, out: list[str], defaults: object = None) -> None:
    """A table of ``cls``'s plain keys, then its nested sections; defaults are read from
    ``defaults`` (the parent's default value of this section) or ``cls()``."""
    defaults = cls() if defaults is None or type(defaults) is not cls else defaults
    hints = typing.get_type_hints(cls)
    rows, nested = [], []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        key = f"{prefix}{f.name}"
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(tp):
            nested.append((tp, key, value))
        elif _variants(tp):
            for v in _variants(tp):
                nested.append((v, key, value))
        else:
            default = f"`{value!r}`".replace("|", "\\|")
            rows.append(f"| `{key}` | {_type_name(tp)} | {default} | "
                        f"{f.metadata.get('doc', '')} |")
    title = prefix.rstrip(".") or cls.__name__
    kind = typing.get_type_hints(cls).get("type")
    if kind is not None and typing.get_origin(kind) is typing.Literal:
        title += f" (type: {typing.get_args(kind)[0]})"
    doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
    if doc.startswith(f"{cls.__name__}("):  # dataclass's generated signature, not a docstring
        doc = ""
    if rows:
        out += [f"### `{title}`", ""] + ([doc, ""] if doc else [])
        out += ["| key | type | default | meaning |", "|---|---|---|---|", *rows, ""]
    for sub, key, value in nested:
        _section(sub, key + ".", out, value)


def render() -> str:
    out = ["# Config reference", "",
           "Generated from `asr/config/schema.py` (and `model_schema.py`, `augment_schema.py`) "
           "by `python -m asr.config.reference "
           "docs/config_reference.md`; a test fails when this file is stale.", "",
           "## Training and decoding (`asr train --config`, `EXP/config.yaml`)", "",
           "Dotted keys are what `asr train ... key=value` overrides take. Sections with a "
           "`type` key are variants: `type` picks the class, and only its keys are valid.", ""]
    _section(schema.ExperimentConfig, "", out)
    out += ["## Features (`asr fbank --config`, `DATA/feats.yaml`)", ""]
    _section(schema.FbankConfig, "", out)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        Path(argv[0]).write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
