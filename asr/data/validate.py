"""Find every defect of a Kaldi data dir (``asr validate-data``) and repair it by keeping
the consistent intersection (``asr fix-data``), as Kaldi's validate/fix_data_dir pair does.

Unlike :meth:`DataDir.load`, which stops at the first problem, these read leniently and
collect all problems, each with a count and examples; the cross-file rules are those of
:mod:`asr.data.consistency`, which DataDir.check applies strictly.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import soundfile

from asr.data.audio_formats import MAX_OVERSHOOT_S
from asr.data.consistency import Findings, find_inconsistencies
from asr.data.copy_dirs import select, write_files
from asr.data.kaldi_dir import (
    PARSED_FILES,
    RX_FILES,
    UTT_FILES,
    is_pipe,
    iter_kv,
    parse_segment,
    utt_keyed_files,
)
from asr.data.tokenizer import Tokenizer
from asr.errors import DataError

BACKUP = ".backup"
# defects fix-data leaves alone: what the user must decide (see NOT_FIXED_ADVICE)
NOT_FIXED_ADVICE = {
    "pipe_entry": "pipes are refused with --no-pipes; convert them to files (e.g. "
                  "'sox ... OUT.wav') or drop --no-pipes if you trust the data dir",
    "out_of_vocabulary": "words whose tokens are not in the lang dir: rebuild the lang dir "
                         "from text that covers them (asr tokenizer), or map them in text",
}


@dataclass
class Report:
    """Defect class -> the affected entries (``file:line key`` or utterance ids)."""

    path: Path
    defects: dict[str, list[str]] = field(default_factory=dict)
    num_utts: int = 0
    notes: list[str] = field(default_factory=list)  # not defects: what will be assumed

    def add(self, kind: str, example: str) -> None:
        self.defects.setdefault(kind, []).append(example)

    def count(self, kind: str) -> int:
        return len(self.defects.get(kind, []))

    def format(self, examples: int = 3) -> str:
        n = sum(map(len, self.defects.values()))
        lines = [f"{self.path}: {self.num_utts} utterances, "
                 + (f"{n} problem{'s' if n > 1 else ''}" if n else "no problems")]
        for kind, items in sorted(self.defects.items()):
            shown = ", ".join(items[:examples]) + (", ..." if len(items) > examples else "")
            lines.append(f"  {kind}: {len(items)} ({shown})")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def advice(self) -> str:
        """What to do about the defects found: fix-data for those it repairs, and what it
        does not repair named with its remedy."""
        fixable = [k for k in self.defects if k not in NOT_FIXED_ADVICE]
        lines = [f"{k}: {NOT_FIXED_ADVICE[k]}" for k in sorted(self.defects)
                 if k in NOT_FIXED_ADVICE]
        if fixable:
            lines.insert(0, f"run 'asr fix-data {self.path}' to keep the consistent part "
                            f"({', '.join(sorted(fixable))})")
        return "\n".join(lines)


@dataclass
class _Scan:
    """What a lenient read of every file found: the first valid entry per key."""

    files: dict[str, dict[str, str]]
    bad_keys: dict[str, set[str]]  # file -> keys dropped for unusable lines
    report: Report


def _scan(path: Path) -> _Scan:
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"data dir not found: {path}")
    report = Report(path)
    files: dict[str, dict[str, str]] = {}
    bad: dict[str, set[str]] = {}
    names = ("wav.scp", "spk2utt", "cmvn.scp", *UTT_FILES)
    for name in names:
        f = path / name
        if not f.is_file():
            continue
        entries: dict[str, str] = {}
        bad[name] = set()
        prev = ""
        for line in iter_kv(f):
            where = f"{name}:{line.lineno}"
            if line.problem == "utf8":
                report.add("bad_utf8", f"{where} {line.key}")
                bad[name].add(line.key)
                continue
            if line.problem == "blank":
                report.add("blank_line", where)
                continue
            if line.key < prev:
                report.add("unsorted", f"{where} {line.key}")
            prev = max(prev, line.key)
            if line.key in entries:
                report.add("duplicate_key", f"{where} {line.key}")
                continue
            if not line.value:
                report.add("empty_transcript" if name == "text" else "empty_entry",
                           f"{where} {line.key}")
                bad[name].add(line.key)
                continue
            if name in PARSED_FILES:  # a bad value drops the utterance
                try:
                    PARSED_FILES[name][1](line.value)
                except ValueError as e:
                    report.add(f"bad_{name}", f"{where} {line.key}: {e}")
                    bad[name].add(line.key)
                    continue
            entries[line.key] = line.value
        files[name] = entries
    if "wav.scp" not in files and "feats.scp" not in files:
        raise DataError(f"{path}: has neither wav.scp nor feats.scp")
    return _Scan(files, bad, report)


def _consistent(scan: _Scan) -> tuple[set[str], dict[str, list[str]], Findings]:
    """The utterances present and usable in every per-utterance file, why others are not,
    and every cross-file finding (the same rules DataDir.check applies strictly)."""
    files = scan.files
    found = find_inconsistencies(
        {n: [*files[n], *sorted(scan.bad_keys[n])] for n in utt_keyed_files(files)},
        {u: v.split()[0] for u, v in files["segments"].items()} if "segments" in files else None,
        files.get("wav.scp"), files.get("utt2spk"), files.get("spk2utt"))
    keep, dropped = found.keep(scan.bad_keys)
    if "segments" in files and "wav.scp" in files:
        past_end = _segments_past_end(files["segments"], files["wav.scp"], keep)
        if past_end:
            dropped["segment_past_end"] = list(past_end.values())
            keep -= past_end.keys()
    return keep, dropped, found


def _segments_past_end(segments: dict[str, str], wav: dict[str, str], keep: set[str]
                       ) -> dict[str, str]:
    """utt -> 'utt: ends at E s, REC is D s' for each kept segment ending more than
    MAX_OVERSHOOT_S past its recording; recordings read through pipes or arks, or not
    readable here (loading says why), are not checked."""
    durations: dict[str, float | None] = {}
    out = {}
    for utt in sorted(keep):
        seg = parse_segment(segments[utt])
        rx = wav[seg.recording]
        if seg.end < 0 or is_pipe(rx) or ".ark:" in rx:
            continue
        if seg.recording not in durations:
            try:
                durations[seg.recording] = soundfile.info(rx).duration
            except (RuntimeError, OSError):
                durations[seg.recording] = None
        length = durations[seg.recording]
        if length is not None and seg.end > length + MAX_OVERSHOOT_S:
            out[utt] = f"{utt}: ends at {seg.end:g} s, {seg.recording} is {length:.2f} s"
    return out


def validate_data_dir(path: Path, tokenizer: Tokenizer | None = None,
                      allow_pipes: bool = True) -> Report:
    """Every defect of the data dir at ``path``; tokens outside ``tokenizer`` when given;
    without ``allow_pipes``, every ``cmd |`` entry (which would run a shell command)."""
    scan = _scan(path)
    report = scan.report
    if not allow_pipes:
        for name in RX_FILES:
            if name in scan.files:
                for line in iter_kv(Path(path) / name):
                    if line.problem is None and is_pipe(line.value):
                        report.add("pipe_entry", f"{name}:{line.lineno} {line.key}")
    keep, dropped, found = _consistent(scan)
    report.num_utts = len(keep)
    for kind, ids in dropped.items():
        if not kind.startswith("unusable_line"):  # those were reported line by line
            report.defects[kind] = ids
    for rec in found.unused_recording:
        report.add("unused_recording", rec)
    if "utt2spk" not in scan.files:
        report.notes.append("no utt2spk: each utterance is its own speaker (per-speaker "
                            "CMVN normalizes each utterance by its own statistics)")
    for spk in found.spk2utt_mismatch:
        report.add("spk2utt_mismatch", spk)
    if tokenizer is not None and "text" in scan.files:
        for utt, text in scan.files["text"].items():
            for word in text.split():
                if 1 in tokenizer.encode(word):  # id 1 is <unk>
                    report.add("out_of_vocabulary", f"{utt}: {word}")
    return report


def fix_data_dir(path: Path) -> dict[str, list[str]]:
    """Keep the utterances consistent across all files, rewrite every file sorted (the
    originals go to DIR/.backup/), regenerate spk2utt; return reason -> dropped ids."""
    path = Path(path)
    scan = _scan(path)
    keep, dropped, _ = _consistent(scan)
    if not keep:
        raise DataError(f"{path}: no utterance is consistent across its files; nothing to keep "
                        f"({'; '.join(f'{k}: {len(v)}' for k, v in dropped.items())})")
    backup = path / BACKUP
    backup.mkdir(exist_ok=True)
    for name in scan.files:
        shutil.copy2(path / name, backup / name)
    kept = select(scan.files, keep)
    if "segments" in scan.files and "wav.scp" in scan.files:
        unused = sorted(scan.files["wav.scp"].keys() - kept["wav.scp"].keys())
        if unused:
            dropped["unused_recording"] = unused
    write_files(path, kept)
    return dropped
