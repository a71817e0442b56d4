"""Score hypotheses against references: Kaldi's %WER line, per-utterance alignments, and a
per-speaker table (as sclite's ``.sys`` report) when utt2spk is given."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from asr.errors import DataError
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
        return (f"{name} {c.rate:.2f} [ {c.errors} / {c.ref_tokens}, "
                f"{c.ins} ins, {c.dels} del, {c.subs} sub ]")

    def speaker_table(self, utt2spk: Mapping[str, str]) -> str:
        """One row per speaker: utterances, reference words, %WER, S, I, D; then the sum."""
        rows: dict[str, tuple[int, ErrorCounts]] = {}
        for utt, c, _ in self.per_utt:
            spk = utt2spk.get(utt)
            if spk is None:
                raise DataError(f"utterance '{utt}' is not in the utt2spk file")
            n, acc = rows.get(spk, (0, ErrorCounts()))
            acc += c
            rows[spk] = (n + 1, acc)
        unit = "chars" if self.cer else "words"
        name = "%CER" if self.cer else "%WER"
        lines = [f"{'speaker':<16} {'#utts':>6} {'#' + unit:>7} {name:>7} {'S':>5} {'I':>5} "
                 f"{'D':>5}"]
        for spk, (n, c) in sorted(rows.items()) + [("SUM", (len(self.per_utt), self.counts))]:
            lines.append(f"{spk:<16} {n:>6} {c.ref_tokens:>7} {c.rate:>7.2f} {c.subs:>5} "
                         f"{c.ins:>5} {c.dels:>5}")
        return "\n".join(lines) + "\n"

    def render(self, utt2spk: Mapping[str, str] | None = None) -> str:
        """The summary line, the per-speaker table (with ``utt2spk``), then alignments."""
        lines = [self.summary()]
        if utt2spk is not None:
            lines.append(self.speaker_table(utt2spk).rstrip("\n"))
        if self.missing:
            lines.append(f"# {len(self.missing)} reference utterances had no hypothesis "
                         f"(scored as deletions), e.g. {self.missing[0]}")
        for utt, c, pairs in self.per_utt:
            lines.append(f"{utt} ref  {' '.join(r for r, _ in pairs)}")
            lines.append(f"{utt} hyp  {' '.join(h for _, h in pairs)}")
            ops = ["C" if r == h else "S" if r != "***" and h != "***" else
                   ("D" if h == "***" else "I") for r, h in pairs]
            lines.append(f"{utt} op   {' '.join(ops)}")
            lines.append(f"{utt} #csid {len(pairs) - c.errors} {c.subs} {c.ins} {c.dels}")
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
