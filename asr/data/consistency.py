"""Cross-file consistency of a Kaldi data dir, found in one place: DataDir.check raises on the
first finding, validate-data reports them all and fix-data keeps the utterances they spare."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from asr.errors import DataError

# per-utterance files whose every id needs audio or features (to load, not to repair)
_NEEDS_AUDIO = ("text", "utt2spk", "utt2num_frames", "utt2dur")


def spk2utt_from_utt2spk(utt2spk: Mapping[str, str]) -> dict[str, list[str]]:
    """The spk2utt that ``utt2spk`` implies: speaker -> its utterances, both sorted."""
    out: dict[str, list[str]] = {}
    for utt, spk in sorted(utt2spk.items()):
        out.setdefault(spk, []).append(utt)
    return out


@dataclass(frozen=True)
class Findings:
    """What the files of one data dir disagree on. ``utt_files``: each per-utterance file's
    ids in file order; ``absent``: the ids of the dir (in any of them) each one lacks."""

    utt_files: Mapping[str, Collection[str]]
    utterances: set[str]
    absent: dict[str, set[str]]
    unknown_recording: dict[str, str]  # segment -> its recording, which wav.scp lacks
    unused_recording: list[str]  # wav.scp recordings no segment uses, sorted
    spk2utt_mismatch: list[str]  # speakers whose spk2utt line is not what utt2spk implies

    def missing(self, name: str, source: str) -> list[str]:
        """The ids of file ``source`` that file ``name`` lacks, in ``source``'s order."""
        gaps = self.absent.get(name)
        if not gaps or source not in self.utt_files:
            return []
        return [u for u in self.utt_files[source] if u in gaps]

    def raise_first(self, path: Path) -> None:
        """Strict: a DataError naming file, line and utterance for the first id without audio
        or features, or a segment of an unknown recording (what loading relies on)."""
        audio = "segments" if "segments" in self.utt_files else "wav.scp"
        for primary in (audio, "feats.scp"):
            for other in _NEEDS_AUDIO:
                missing = self.missing(primary, other)
                if missing:
                    lineno = list(self.utt_files[other]).index(missing[0]) + 1
                    raise DataError(
                        f"{path / other}:{lineno}: utterance '{missing[0]}' is not in "
                        f"{path / primary} ({len(missing)} such utterances); "
                        f"run 'asr validate-data {path}' for a full report")
        if self.unknown_recording:
            utt, rec = next(iter(self.unknown_recording.items()))
            raise DataError(f"{path / 'segments'}: utterance '{utt}' names recording '{rec}' "
                            f"that is not in {path / 'wav.scp'} "
                            f"({len(self.unknown_recording)} such utterances)")
        missing = self.missing(audio, "feats.scp")
        if missing:
            raise DataError(f"{path / 'feats.scp'}: utterance '{missing[0]}' is not in "
                            f"{path / audio} ({len(missing)} such utterances)")

    def keep(self, unusable: Mapping[str, set[str]]) -> tuple[set[str], dict[str, list[str]]]:
        """Lenient: the utterances in every per-utterance file and not on one of its
        ``unusable`` lines, and reason -> sorted ids for the others (each under its first)."""
        keep = set(self.utterances)
        dropped: dict[str, list[str]] = {}
        for name in self.utt_files:
            bad = unusable.get(name, set())
            if bad & keep:
                dropped[f"unusable_line:{name}"] = sorted(bad & keep)
            keep -= bad
            if keep & self.absent[name]:
                dropped[f"not_in:{name}"] = sorted(keep & self.absent[name])
                keep -= self.absent[name]
        if keep & self.unknown_recording.keys():
            dropped["unknown_recording"] = sorted(keep & self.unknown_recording.keys())
            keep -= self.unknown_recording.keys()
        return keep, dropped


def find_inconsistencies(utt_files: Mapping[str, Collection[str]],
                         segments: Mapping[str, str] | None = None,
                         recordings: Collection[str] | None = None,
                         utt2spk: Mapping[str, str] | None = None,
                         spk2utt: Mapping[str, str] | None = None) -> Findings:
    """Compare the ids of the per-utterance files ``utt_files`` (file order) with each other,
    the recordings of ``segments`` (utt -> recording) with wav.scp's ``recordings``, and
    ``spk2utt`` lines with ``utt2spk``; a file that is absent is None and checks nothing."""
    utterances: set[str] = set().union(*utt_files.values())
    absent = {name: utterances.difference(ids) for name, ids in utt_files.items()}
    unknown: dict[str, str] = {}
    unused: list[str] = []
    if segments is not None and recordings is not None:
        unknown = {u: rec for u, rec in segments.items() if rec not in recordings}
        unused = sorted(set(recordings) - set(segments.values()))
    mismatch: list[str] = []
    if utt2spk is not None and spk2utt is not None:
        expected = {s: " ".join(u) for s, u in spk2utt_from_utt2spk(utt2spk).items()}
        mismatch = [s for s in sorted(expected.keys() | spk2utt.keys())
                    if expected.get(s) != spk2utt.get(s)]
    return Findings(utt_files, utterances, absent, unknown, unused, mismatch)
