#!/usr/bin/env python3
"""Connected-digit Kaldi data dirs from FSDD's isolated digits.

Each utterance joins 1-7 takes of one speaker with short pauses of low-level noise
(seeded), e.g. "THREE ONE FOUR" from 3_lucas_7, 1_lucas_22, 4_lucas_9. Sets:
  train        takes 10-49 of the training speakers, --train-passes passes over them
  dev          takes 5-9 of the training speakers (disjoint from train)
  test         takes 0-4 (the dataset's official test takes) of the training speakers
  test_unseen  every take of --heldout-speaker, a speaker no model set ever hears
Each set also gets ref.ctm: where each take lies in its utterance (timestamp reference).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile

from asr.data.ctm import CtmWord, write_ctm
from asr.data.kaldi_dir import write_data_dir
from asr.errors import AsrError

WORDS = "ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE".split()
NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
RATE = 8000
NOISE_STD = 8.0  # int16 units, about -72 dBFS: the floor of FSDD's trimmed recordings


def scan(fsdd_dir: Path) -> dict[str, list[tuple[int, int, Path]]]:
    """speaker -> [(digit, take, path)] for every {digit}_{speaker}_{take}.wav."""
    if not fsdd_dir.is_dir():
        raise AsrError(f"FSDD recordings dir not found: {fsdd_dir} (give --fsdd-dir or set "
                       "FSDD_DIR to the folder holding {digit}_{speaker}_{index}.wav files)")
    found: dict[str, list[tuple[int, int, Path]]] = defaultdict(list)
    for p in sorted(fsdd_dir.iterdir()):
        m = NAME.match(p.name)
        if m:
            found[m.group(2)].append((int(m.group(1)), int(m.group(3)), p))
    if not found:
        raise AsrError(f"{fsdd_dir}: no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) "
                       "found there")
    return found


def join(takes: list[tuple[int, int, Path]], rng: random.Random,
         noise_std: float = NOISE_STD) -> tuple[np.ndarray, str, list[CtmWord]]:
    """Concatenate takes with 50-300 ms noise pauses; 50-200 ms of noise at both ends.
    Returns the audio, its text and where each take (word) lies in it: the reference
    for timestamps and alignment (FSDD's takes are trimmed to the spoken digit).

    ``noise_std`` 0 makes the pauses exact digital silence; the pause lengths (and every
    other draw of ``rng``) are the same for any ``noise_std``.
    """

    def pause(lo: float, hi: float) -> np.ndarray:
        n = int(RATE * rng.uniform(lo, hi))
        noise = np.random.default_rng(rng.getrandbits(32))
        return noise.normal(0, noise_std, n) if noise_std > 0 else np.zeros(n)

    parts = [pause(0.05, 0.2)]
    spans = []
    for i, (digit, _, path) in enumerate(takes):
        audio, rate = soundfile.read(path, dtype="int16")
        if rate != RATE or audio.ndim != 1:
            raise AsrError(f"{path}: expected mono {RATE} Hz audio, got {rate} Hz, "
                           f"shape {audio.shape}")
        if i:
            parts.append(pause(0.05, 0.3))
        start = sum(len(x) for x in parts)
        spans.append(CtmWord(WORDS[digit], start / RATE, (start + len(audio)) / RATE))
        parts.append(audio.astype(np.float64))
    parts.append(pause(0.05, 0.2))
    joined = np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype(np.int16)
    return joined, " ".join(WORDS[d] for d, _, _ in takes), spans


def make_set(name: str, by_spk: dict[str, list[tuple[int, int, Path]]], passes: int,
             out: Path, rng: random.Random, max_digits: int,
             noise_std: float = NOISE_STD) -> None:
    wav_dir = (out / "wav" / name).resolve()
    wav_dir.mkdir(parents=True, exist_ok=True)
    wav_scp, text, utt2spk, ctm = {}, {}, {}, {}
    for spk, takes in sorted(by_spk.items()):
        n = 0
        for _ in range(passes):
            order = takes[:]
            rng.shuffle(order)
            while order:
                k = rng.randint(1, max_digits)
                group, order = order[:k], order[k:]
                utt = f"{spk}-{name}-{n:05d}"
                audio, words, ctm[utt] = join(group, rng, noise_std)
                path = wav_dir / f"{utt}.wav"
                soundfile.write(path, audio, RATE, subtype="PCM_16")
                wav_scp[utt], text[utt], utt2spk[utt] = str(path), words, spk
                n += 1
    write_data_dir(out / name, wav_scp, text, utt2spk)
    write_ctm(out / name / "ref.ctm", ctm)
    print(f"{out / name}: {len(text)} utterances, "
          f"{sum(len(t.split()) for t in text.values())} digits", file=sys.stderr)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fsdd-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="writes OUT/{train,dev,...}")
    p.add_argument("--speakers", default="george,jackson,lucas,nicolas,yweweler",
                   help="comma-separated speakers to use (the public set has a sixth)")
    p.add_argument("--heldout-speaker", default="nicolas")
    p.add_argument("--train-passes", type=int, default=3)
    p.add_argument("--max-digits", type=int, default=7)
    p.add_argument("--max-takes", type=int, default=50,
                   help="use takes below this index only (small runs for tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pause-noise-std", type=float, default=NOISE_STD,
                   help="std (int16 units) of the noise in the pauses and at both ends; 0 "
                   "gives exact digital silence, as a tool joining clips with zeros would")
    args = p.parse_args()
    try:
        if not args.pause_noise_std >= 0:
            raise AsrError(f"--pause-noise-std must be >= 0, got {args.pause_noise_std}")
        wanted = set(args.speakers.split(","))
        found = {s: t for s, t in scan(args.fsdd_dir).items() if s in wanted}
        if not found:
            raise AsrError(f"{args.fsdd_dir}: none of the speakers {args.speakers} found")
        if args.heldout_speaker not in found:
            raise AsrError(f"--heldout-speaker '{args.heldout_speaker}' has no recordings in "
                           f"{args.fsdd_dir} (speakers: {', '.join(sorted(found))})")
        seen = {s: t for s, t in found.items() if s != args.heldout_speaker}

        def takes(spk_takes: dict, lo: int, hi: int) -> dict:
            hi = min(hi, args.max_takes)
            return {s: [x for x in t if lo <= x[1] < hi] for s, t in spk_takes.items()}

        rng = random.Random(args.seed)
        make_set("train", takes(seen, 10, 50), args.train_passes, args.out, rng, args.max_digits,
                 args.pause_noise_std)
        make_set("dev", takes(seen, 5, 10), 1, args.out, rng, args.max_digits,
                 args.pause_noise_std)
        make_set("test", takes(seen, 0, 5), 1, args.out, rng, args.max_digits,
                 args.pause_noise_std)
        make_set("test_unseen", takes({args.heldout_speaker: found[args.heldout_speaker]}, 0, 50),
                 1, args.out, rng, args.max_digits, args.pause_noise_std)
    except AsrError as e:
        print(f"prepare_fsdd.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
