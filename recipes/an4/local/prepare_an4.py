#!/usr/bin/env python3
"""Kaldi data dirs from CMU's AN4 in either official layout (the ``an4`` folder holding
``etc/`` and ``wav/``):

  an4_raw.bigendian: wav/an4_clstk/<spk>/<file id>.raw, headerless 16 kHz 16-bit
                     big-endian PCM (the README in the archive says little-endian: wrong);
  an4_sphere:        wav/an4_clstk/<spk>/<file id>.sph, NIST SPHERE (what ESPnet uses).

Transcripts come from etc/an4_{train,test}.transcription (``<s> WORDS </s> (file id)``; the
test file has no tags), the file list from etc/an4_{train,test}.fileids. The test set is
written when the corpus has it (etc/an4_test.fileids), else left out with a note.

Sets: test = the official test part (10 speakers of their own); dev = whole speakers held
out of training, the first in sorted order until --dev-utts utterances (ESPnet holds out the
first 100 utterances of the sorted list, which splits a speaker; ours never shares one, so
dev measures unseen speakers as test does); train = the rest.
utt id = <speaker>-<file id> (sorts with its speaker), speaker = the id's middle field.
``.sph`` files are read where they are; ``.raw`` files are written once as WAV under
--wav-dir (a format wav.scp can name: a raw file's format is not in the file).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import soundfile

from asr.atomic_io import atomic_write
from asr.data.audio import load_raw
from asr.data.kaldi_dir import write_data_dir
from asr.errors import AsrError

TRANSCRIPT = re.compile(r"^(?:<s>\s+)?(.*?)(?:\s+</s>)?\s+\(([^()\s]+)\)$")
RATE = 16000
Utt = tuple[str, str, str, Path]  # (utt id, speaker, words, audio file)


def read_transcripts(path: Path) -> dict[str, str]:
    """file id -> words of an AN4 .transcription file."""
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        m = TRANSCRIPT.match(line.strip())
        if not m or not m.group(1).strip():
            raise AsrError(f"{path}:{n}: not an AN4 transcript line "
                           f"('<s> WORDS </s> (file-id)'): {line!r}")
        out[m.group(2)] = " ".join(m.group(1).split())
    return out


def scan(corpus: Path, part: str) -> list[Utt] | None:
    """The utterances of ``part`` ('train' or 'test'), or None when the corpus lacks it."""
    fileids = corpus / "etc" / f"an4_{part}.fileids"
    trans = corpus / "etc" / f"an4_{part}.transcription"
    if not fileids.is_file():
        return None
    if not trans.is_file():
        raise AsrError(f"{corpus}: {fileids.name} but no {trans.name} in etc/")
    words = read_transcripts(trans)
    utts = []
    for n, line in enumerate(fileids.read_text().split(), 1):
        file_id = Path(line).name
        stem = corpus / "wav" / line
        audio = next((p for p in (stem.with_suffix(".sph"), stem.with_suffix(".raw"))
                      if p.is_file()), None)
        if audio is None:
            raise AsrError(f"{fileids}:{n}: no audio for '{line}' ({stem}.sph or .raw)")
        if file_id not in words:
            raise AsrError(f"{fileids}:{n}: '{file_id}' has no line in {trans}")
        fields = file_id.split("-")
        if len(fields) != 3:
            raise AsrError(f"{fileids}:{n}: file id '{file_id}' is not <name>-<speaker>-<mic>")
        utts.append((f"{fields[1]}-{file_id}", fields[1], words[file_id], audio))
    if not utts:
        raise AsrError(f"{fileids}: lists no files")
    return sorted(utts)


def hold_out_speakers(utts: list[Utt], dev_utts: int) -> tuple[list[Utt], list[Utt]]:
    """(train, dev): whole speakers in sorted order go to dev until it has ``dev_utts``."""
    dev_speakers: set[str] = set()
    count = 0
    for spk in sorted({u[1] for u in utts}):
        if count >= dev_utts:
            break
        dev_speakers.add(spk)
        count += sum(u[1] == spk for u in utts)
    train = [u for u in utts if u[1] not in dev_speakers]
    if not train:
        raise AsrError(f"--dev-utts {dev_utts} leaves no speaker for training")
    return train, [u for u in utts if u[1] in dev_speakers]


def write_set(out: Path, utts: list[Utt], wav_dir: Path) -> None:
    wav_scp, text, utt2spk = {}, {}, {}
    for utt, spk, words, audio in utts:
        if audio.suffix == ".raw":
            target = wav_dir / f"{utt}.wav"
            if not target.is_file():  # atomic: a killed run never leaves a half-written wav
                samples, rate = load_raw(audio, RATE, 2, "big", utt_id=utt)
                pcm = samples.numpy().astype(np.int16)  # exact: the file's 16-bit samples
                atomic_write(target, lambda f, pcm=pcm, rate=rate: soundfile.write(
                    f, pcm, rate, format="WAV", subtype="PCM_16"))
            audio = target
        wav_scp[utt], text[utt], utt2spk[utt] = str(audio.resolve()), words, spk
    write_data_dir(out, wav_scp, text, utt2spk)
    print(f"{out}: {len(text)} utterances, {len(set(utt2spk.values()))} speakers, "
          f"{sum(len(t.split()) for t in text.values())} words", file=sys.stderr)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus-dir", type=Path, required=True, help="the an4 folder (etc/, wav/)")
    p.add_argument("--out", type=Path, required=True, help="writes OUT/{train,dev,test}")
    p.add_argument("--dev-utts", type=int, default=100,
                   help="utterances of whole speakers held out of training as dev")
    p.add_argument("--wav-dir", type=Path, default=None,
                   help="where .raw audio is written as WAV (default OUT/wav)")
    args = p.parse_args()
    wav_dir = args.wav_dir or args.out / "wav"
    try:
        if not (args.corpus_dir / "etc").is_dir():
            raise AsrError(f"AN4 dir not found: {args.corpus_dir} has no etc/ (give "
                           "--corpus-dir or set AN4_DIR to the 'an4' folder of etc/ and wav/)")
        train = scan(args.corpus_dir, "train")
        if train is None:
            raise AsrError(f"{args.corpus_dir}: no etc/an4_train.fileids")
        test = scan(args.corpus_dir, "test")
        wav_dir.mkdir(parents=True, exist_ok=True)
        train, dev = hold_out_speakers(train, args.dev_utts)
        for name, utts in (("train", train), ("dev", dev), ("test", test)):
            if utts is None:
                print(f"{args.corpus_dir}: no etc/an4_test.fileids: no test set (the training "
                      "part alone)", file=sys.stderr)
                continue
            write_set(args.out / name, utts, wav_dir)
    except AsrError as e:
        print(f"prepare_an4.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
