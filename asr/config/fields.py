"""The ``doc`` field helper every schema dataclass uses (its own module so the schema can
span several files without an import cycle)."""

from __future__ import annotations

from dataclasses import field
from typing import Any


def doc(default: Any, text: str) -> Any:
    """A field with its default and its line in docs/config_reference.md (generated from
    this metadata, so reformatting the code cannot lose a doc line)."""
    return field(default=default, metadata={"doc": text})
