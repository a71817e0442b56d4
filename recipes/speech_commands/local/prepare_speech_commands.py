#!/usr/bin/env python3
"""Kaldi data dirs from Speech Commands (<word>/<speaker>_nohash_<n>.wav, one word a clip).

Sets are speaker-disjoint, so dev and test measure speakers never heard in training:
  with the corpus's validation_list.txt and testing_list.txt (the full v0.02 release),
    dev = the validation list, test = the testing list, train = every other clip;
  without them (e.g. a subset of the corpus), each speaker goes to one set by a hash of
    its id: --dev-percent of the speakers to dev, --test-percent to test, the rest to
    train. The hash is salted with --seed: the corpus's own unsalted hash is what made
    its official lists, so on a subset drawn from one official list it would put every
    speaker in that list's set.
utt id = <speaker>-<word>-<n> (sorts with its speaker prefix), speaker = the hash before
_nohash_, text = the word in upper case. wav.scp points at the corpus's own files.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections import defaultdict
from pathlib import Path

from asr.data.kaldi_dir import write_data_dir
from asr.errors import AsrError

NAME = re.compile(r"^([0-9a-f]+)_nohash_(\d+)\.wav$")
SETS = ("train", "dev", "test")
Clip = tuple[str, str, int, Path]  # (speaker, word, n, path)


def scan(corpus: Path) -> list[Clip]:
    """Every <word>/<speaker>_nohash_<n>.wav; _background_noise_ and other files are skipped."""
    if not corpus.is_dir():
        raise AsrError(f"Speech Commands dir not found: {corpus} (give --corpus-dir or set "
                       "SPEECH_COMMANDS_DIR to the folder holding <word>/*_nohash_*.wav)")
    clips = []
    for word_dir in sorted(p for p in corpus.iterdir() if p.is_dir()):
        if word_dir.name.startswith("_"):  # _background_noise_: long noise recordings
            continue
        for p in sorted(word_dir.glob("*.wav")):
            m = NAME.match(p.name)
            if m:
                clips.append((m.group(1), word_dir.name, int(m.group(2)), p.resolve()))
    if not clips:
        raise AsrError(f"{corpus}: no Speech Commands clips (<word>/<speaker>_nohash_<n>.wav) "
                       "found there")
    return clips


def speaker_percent(speaker: str, seed: int) -> float:
    """A speaker's place in [0, 100), fixed by its id and the seed (no RNG state)."""
    digest = hashlib.sha1(f"{speaker}/{seed}".encode()).hexdigest()
    return int(digest[:15], 16) % 10**6 / 10**4


def split(clips: list[Clip], corpus: Path, dev_percent: float, test_percent: float,
          seed: int) -> tuple[dict[str, list[Clip]], str]:
    """set name -> clips, and how the split was made (for the log)."""
    lists = corpus / "validation_list.txt", corpus / "testing_list.txt"
    sets: dict[str, list[Clip]] = defaultdict(list)
    if all(p.is_file() for p in lists):
        listed = {}
        for name, p in zip(("dev", "test"), lists, strict=True):
            for line in p.read_text().split():
                listed[line] = name
        for c in clips:
            sets[listed.get(f"{c[1]}/{c[3].name}", "train")].append(c)
        how = "the corpus's validation_list.txt and testing_list.txt"
    else:
        for c in clips:
            pct = speaker_percent(c[0], seed)
            sets["dev" if pct < dev_percent else
                 "test" if pct < dev_percent + test_percent else "train"].append(c)
        how = (f"speaker hash (seed {seed}): {dev_percent:g} % of the speakers to dev, "
               f"{test_percent:g} % to test")
    spk = {s: {c[0] for c in sets[s]} for s in SETS}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        if spk[a] & spk[b]:
            raise AsrError(f"{corpus}: speakers in both {a} and {b}: "
                           f"{', '.join(sorted(spk[a] & spk[b])[:5])} (lists not speaker-disjoint)")
    for s in SETS:
        if not sets[s]:
            raise AsrError(f"{corpus}: the split ({how}) leaves {s} empty: "
                           "too few speakers, or change --dev-percent/--test-percent")
    return sets, how


def keep_speakers(clips: list[Clip], max_speakers: int, seed: int) -> list[Clip]:
    """Only the first ``max_speakers`` speakers in hash order (0: all of them)."""
    if max_speakers <= 0:
        return clips
    speakers = sorted({c[0] for c in clips}, key=lambda s: speaker_percent(s, seed + 1))
    kept = set(speakers[:max_speakers])
    return [c for c in clips if c[0] in kept]


def write_set(out: Path, clips: list[Clip]) -> None:
    wav_scp, text, utt2spk = {}, {}, {}
    for spk, word, n, path in clips:
        utt = f"{spk}-{word}-{n}"
        wav_scp[utt], text[utt], utt2spk[utt] = str(path), word.upper(), spk
    write_data_dir(out, wav_scp, text, utt2spk)
    print(f"{out}: {len(text)} utterances, {len(set(utt2spk.values()))} speakers, "
          f"{len(set(text.values()))} words", file=sys.stderr)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="writes OUT/{train,dev,test}")
    p.add_argument("--dev-percent", type=float, default=10.0)
    p.add_argument("--test-percent", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0, help="salt of the speaker hash")
    p.add_argument("--max-speakers", type=int, default=0,
                   help="at most this many speakers per set (small runs for tests); 0: all")
    args = p.parse_args()
    try:
        sets, how = split(scan(args.corpus_dir), args.corpus_dir, args.dev_percent,
                          args.test_percent, args.seed)
        print(f"split by {how}", file=sys.stderr)
        for name in SETS:
            write_set(args.out / name, keep_speakers(sets[name], args.max_speakers, args.seed))
    except AsrError as e:
        print(f"prepare_speech_commands.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
