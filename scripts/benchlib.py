"""The table every benchmark script prints: what, ours, the reference, and their ratio."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    what: str
    ours: str
    reference: str = "-"
    ratio: str = "-"  # ours against the reference, measured in the same run


def print_table(notes: list[str], rows: list[Row], sections: list[str] | None = None) -> None:
    """Notes as '# ' lines, then aligned columns (with a first 'benchmark' column when
    ``sections`` names each row's benchmark)."""
    for n in notes:
        print(f"# {n}")
    head = ("what", "ours", "reference", "ratio")
    cells = [head] + [(r.what, r.ours, r.reference, r.ratio) for r in rows]
    if sections is not None:
        cells = [("benchmark", *cells[0])] + [(b, *c) for b, c in
                                               zip(sections, cells[1:], strict=True)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)).rstrip())
