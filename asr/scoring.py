"""Score hypotheses against references: Kaldi's %WER line and per-utterance alignments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from asr.functional.edit_distance import ErrorCounts, align


def units(text: str, cer: bool) -> list[str]:
    """Words, or characters without spaces for CER."""
    return list("".join(text.split())) if cer else text.split()


@dataclass
class ScoreReport:
    counts: ErrorCounts
    per_utt: list[tuple[str, ErrorCounts, list[tuple[str, str]]]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # refs with no hypothesis
    cer: bool = False

    def summary(self) -> str:
        """Kaldi's line: ``%WER 1.23 [ 12 / 975, 3 ins, 4 del, 5 sub ]``."""
        c = self.counts
        name = "%CER" if self.cer else "%WER"
        return (f"{name} {c.rate:.2f} [ {c.errors} / {c.ref_words}, "
                f"{c.ins} ins, {c.dels} del, {c.subs} sub ]")

    def render(self) -> str:
        lines = [self.summary()]
        if self.missing:
            lines.append(f"# {len(self.missing)} reference utterances had no hypothesis "
                         f"(scored as deletions), e.g. {self.missing[0]}")
        for utt, c, pairs in self.per_utt:
            lines.append(f"{utt} ref  {' '.join(r for r, _ in pairs)}")
            lines.append(f"{utt} hyp  {' '.join(h for _, h in pairs)}")
            ops = ["C" if r == h else "S" if r != "***" and h != "***" else
                   ("D" if h == "***" else "I") for r, h in pairs]
            lines.append(f"{utt} op   {' '.join(ops)}")
            lines.append(f"{utt} #csid {len(pairs) - c.errors + c.ins} {c.subs} {c.ins} {c.dels}")
        return "\n".join(lines) + "\n"


def score(refs: Mapping[str, str], hyps: Mapping[str, str], cer: bool = False) -> ScoreReport:
    """Align every reference utterance with its hypothesis (missing = empty)."""
    report = ScoreReport(ErrorCounts(), cer=cer)
    for utt in sorted(refs):
        if utt not in hyps:
            report.missing.append(utt)
        c, pairs = align(units(refs[utt], cer), units(hyps.get(utt, ""), cer))
        report.counts += c
        report.per_utt.append((utt, c, pairs))
    return report
