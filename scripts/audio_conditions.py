#!/usr/bin/env python3
"""How an exp's %WER moves when the same audio arrives as users have it.

For each condition, writes OUT/<condition>/ (wav.scp, text, utt2spk, spk2utt; 16-bit wavs
under OUT/<condition>/wav/) with every utterance of DATA transformed, decodes it with
`asr decode` as a user would, and prints a markdown table of %WER against the clean copy.
A condition dir that exists is reused (a rerun only decodes); each is seeded by utterance
id and --seed, so a rerun from scratch writes identical files.

    python scripts/audio_conditions.py --exp-dir EXP --data-dir DATA --out OUT \\
        [--conditions clean,silence,...] [--method greedy] [--seed 0] [--jobs 1] \\
        [-- asr decode options]

Conditions (int16 sample scale):
  clean           the audio as read, re-written (every condition goes through one writer)
  silence         0.3-1.0 s of exact zeros before and after (each side drawn separately)
  silence_inside  as silence, plus 0.3-1.0 s of zeros at the quietest 10 ms frame of the
                  middle half of the utterance (the same end padding as silence)
  gated           every 10 ms 45 dB below the loudest 10 ms set to zeros (VAD-gated pauses)
  quieter         24 dB quieter, rounded to int16
  peak            scaled so the peak is at -1 dBFS
  dc              a DC offset of +2000, clipped to int16
  resampled       twice the sample rate (torchaudio sinc), decoded with --allow-resample
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from asr.data.audio import load_audio, resample, write_wav
from asr.data.kaldi_dir import DataDir, write_data_dir
from asr.data.wave_augment import noise_gate
from asr.errors import AsrError, DataError

INT16_MAX = 32767
PAD_SECONDS = (0.3, 1.0)  # range of each stretch of inserted silence
FRAME_SECONDS = 0.01  # silence_inside looks for the quietest frame of this length
QUIETER_DB = 24.0
PEAK_DBFS = -1.0
DC_OFFSET = 2000.0
GATE_DB = -45.0  # FSDD's pauses and word edges lie 50-70 dB below its vowels
MADE_FROM = "made_from"  # in each condition dir: the data dir and seed it was written from
WER_LINE = re.compile(r"%WER\s+([\d.]+)\s+\[\s*(\d+)\s*/\s*(\d+)")

Transform = Callable[[np.ndarray, int, np.random.Generator], tuple[np.ndarray, int]]


def to_int16_scale(x: np.ndarray) -> np.ndarray:
    """Rounded and clipped to int16 values (kept as float64): what the wav writer stores."""
    return np.clip(np.round(x), -32768, INT16_MAX)


def draw_pad(rate: int, rng: np.random.Generator) -> int:
    """Samples of one stretch of silence, 0.3-1.0 s uniform."""
    return int(round(rng.uniform(*PAD_SECONDS) * rate))


def quietest_point(x: np.ndarray, rate: int) -> int:
    """The centre sample of the lowest-energy 10 ms frame (frames tiling the middle half of
    ``x``, the first of equals); the middle sample when the middle half holds no frame."""
    frame = max(1, int(round(FRAME_SECONDS * rate)))
    lo, hi = len(x) // 4, 3 * len(x) // 4
    count = (hi - lo) // frame
    if count == 0:
        return len(x) // 2
    frames = x[lo:lo + count * frame].reshape(count, frame)
    best = int(np.argmin(np.square(frames).sum(axis=1)))
    return lo + best * frame + frame // 2


def clean(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The audio as read."""
    return to_int16_scale(x), rate


def silence(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """0.3-1.0 s of exact zeros before and after, each side drawn separately."""
    before, after = draw_pad(rate, rng), draw_pad(rate, rng)
    return to_int16_scale(np.concatenate([np.zeros(before), x, np.zeros(after)])), rate


def silence_inside(x: np.ndarray, rate: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """As :func:`silence` (the same draws for the same rng), plus 0.3-1.0 s of zeros
    inserted at :func:`quietest_point`, so the pause falls between words."""
    before, after, inside = draw_pad(rate, rng), draw_pad(rate, rng), draw_pad(rate, rng)
    at = quietest_point(x, rate)
    return to_int16_scale(np.concatenate(
        [np.zeros(before), x[:at], np.zeros(inside), x[at:], np.zeros(after)])), rate


def gated(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Every 10 ms more than 45 dB below the loudest 10 ms set to exact zeros: the pauses
    of VAD-gated audio (the noise gate of data.augment.gate)."""
    y = noise_gate(torch.from_numpy(x.astype(np.float32)), rate, GATE_DB)
    return to_int16_scale(y.numpy().astype(np.float64)), rate


def quieter(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """24 dB quieter."""
    return to_int16_scale(x * 10 ** (-QUIETER_DB / 20)), rate


def peak(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Scaled so the largest |sample| is at -1 dBFS; all-zero audio is left as it is."""
    top = float(np.abs(x).max())
    if top == 0:
        return to_int16_scale(x), rate
    return to_int16_scale(x * (INT16_MAX * 10 ** (PEAK_DBFS / 20) / top)), rate


def dc(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A DC offset of +2000, clipped."""
    return to_int16_scale(x + DC_OFFSET), rate


def resampled(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Resampled to twice the rate with the package's sinc resampler."""
    y = resample(torch.from_numpy(x.astype(np.float32)), rate, 2 * rate)
    return to_int16_scale(y.numpy().astype(np.float64)), 2 * rate


@dataclass(frozen=True)
class Condition:
    """One way the audio may arrive: its transform, a description, extra decode options."""

    transform: Transform
    what: str
    decode_args: tuple[str, ...] = ()


CONDITIONS: dict[str, Condition] = {
    "clean": Condition(clean, "the audio as read, re-written"),
    "silence": Condition(silence, "0.3-1.0 s of digital silence before and after"),
    "silence_inside": Condition(
        silence_inside, "as silence, plus 0.3-1.0 s of zeros at the quietest 10 ms "
        "of the middle half"),
    "gated": Condition(gated, f"pauses gated to digital silence ({GATE_DB:g} dB gate)"),
    "quieter": Condition(quieter, f"{QUIETER_DB:g} dB quieter"),
    "peak": Condition(peak, f"peak normalized to {PEAK_DBFS:g} dBFS"),
    "dc": Condition(dc, f"DC offset of +{DC_OFFSET:g}"),
    "resampled": Condition(resampled, "resampled to twice the rate (sinc), --allow-resample",
                           ("--allow-resample",)),
}


def utt_rng(utt: str, seed: int) -> np.random.Generator:
    """The generator of one utterance: the same for every condition, run and platform."""
    digest = hashlib.sha256(utt.encode("utf-8")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def apply(name: str, x: np.ndarray, rate: int, utt: str, seed: int) -> tuple[np.ndarray, int]:
    """Condition ``name`` applied to one utterance's int16-scale audio."""
    return CONDITIONS[name].transform(np.asarray(x, dtype=np.float64), rate, utt_rng(utt, seed))


def write_conditions(data_dir: Path, out: Path, names: list[str], seed: int) -> list[str]:
    """Write OUT/<name>/ for each of ``names`` not there yet; return the names written.

    Each dir is built as OUT/<name>.partial and renamed when complete, so an interrupted
    run never leaves a dir that a rerun would take for finished; one made from another
    data dir or seed is an error rather than silently reused.
    """
    made_from = f"{Path(data_dir).resolve()} seed={seed}\n"
    for n in names:
        stamp = out / n / MADE_FROM
        if (out / n).exists() and (not stamp.is_file() or stamp.read_text() != made_from):
            raise AsrError(f"{out / n} exists but was not made from {made_from.strip()} "
                           f"(see {stamp}); remove it or give another --out")
    todo = [n for n in names if not (out / n).exists()]
    if not todo:
        return []
    d = DataDir.load(data_dir)
    d.require("wav.scp")
    d.transcripts()  # %WER needs every one
    utts = d.utt_ids
    bad = [u for u in utts if "/" in u or u in (".", "..")]
    if bad:
        raise DataError(f"{data_dir}: utterance id '{bad[0]}' cannot name a wav file")
    partial = {n: out / f"{n}.partial" for n in todo}
    for p in partial.values():
        shutil.rmtree(p, ignore_errors=True)
        (p / "wav").mkdir(parents=True)
    wav_scp: dict[str, dict[str, str]] = {n: {} for n in todo}
    for utt in utts:
        rx, start, end = d.audio_of(utt)
        samples, rate = load_audio(rx, utt, start, end)
        for n in todo:
            y, r = apply(n, samples.numpy(), rate, utt, seed)
            write_wav(partial[n] / "wav" / f"{utt}.wav", torch.from_numpy(y), r)
            wav_scp[n][utt] = str((out / n / "wav" / f"{utt}.wav").resolve())
    text = {u: d.text[u] for u in utts}
    utt2spk = {u: d.utt2spk.get(u, u) if d.utt2spk else u for u in utts}
    for n in todo:
        write_data_dir(partial[n], wav_scp[n], text, utt2spk)
        (partial[n] / MADE_FROM).write_text(made_from)
        partial[n].rename(out / n)
    return todo


@dataclass(frozen=True)
class Wer:
    """Kaldi's %WER line, parsed."""

    percent: float
    errors: int
    words: int


def read_wer(path: Path) -> Wer:
    """The %WER line of an `asr decode` OUT/wer file."""
    if not path.is_file():
        raise AsrError(f"{path}: not found (did the decode write it?)")
    m = WER_LINE.search(path.read_text(encoding="utf-8"))
    if not m:
        raise AsrError(f"{path}: no '%WER x [ errors / words ...' line")
    return Wer(float(m.group(1)), int(m.group(2)), int(m.group(3)))


def decode(exp_dir: Path, cond_dir: Path, method: str, extra: list[str]) -> Wer:
    """Run `asr decode` on one condition dir (its log: <cond_dir>/decode.log); its %WER."""
    name = cond_dir.name
    cmd = [sys.executable, "-m", "asr", "decode", "--exp-dir", str(exp_dir),
           "--data-dir", str(cond_dir), "--out", str(cond_dir / "decode"), "--method", method,
           *CONDITIONS[name].decode_args, *extra]
    print(f"[{name}] {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
    log = cond_dir / "decode.log"
    with open(log, "w", encoding="utf-8") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-15:])
        raise AsrError(f"[{name}] asr decode failed (exit {rc}); the end of {log}:\n{tail}")
    return read_wer(cond_dir / "decode" / "wer")


def table(results: dict[str, Wer]) -> str:
    """The markdown table: condition, what was done, %WER, [errors / words], vs clean."""
    ref = results.get("clean")
    rows = ["| condition | what was done | %WER | [errors / words] | vs clean |",
            "|---|---|---:|---:|---:|"]
    for name, w in results.items():
        diff = "n/a" if ref is None else "—" if name == "clean" else \
            f"{w.percent - ref.percent:+.2f}"
        rows.append(f"| {name} | {CONDITIONS[name].what} | {w.percent:.2f} | "
                    f"[{w.errors} / {w.words}] | {diff} |")
    return "\n".join(rows)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Options before ``--``; everything after it goes to `asr decode` unchanged."""
    own, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv \
        else (argv, [])
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, required=True, help="a Kaldi data dir with text")
    p.add_argument("--out", type=Path, required=True, help="writes OUT/<condition>/")
    p.add_argument("--conditions", default=",".join(CONDITIONS),
                   help=f"comma-separated, of: {', '.join(CONDITIONS)}")
    p.add_argument("--method", default="greedy", help="asr decode --method")
    p.add_argument("--seed", type=int, default=0, help="with the utterance id, seeds each draw")
    p.add_argument("--jobs", type=int, default=1,
                   help="decodes to run at once (each `asr decode` uses its own threads)")
    args = p.parse_args(own)
    args.conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = [c for c in args.conditions if c not in CONDITIONS]
    if unknown or not args.conditions:
        p.error(f"unknown condition(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(CONDITIONS)}")
    if len(set(args.conditions)) != len(args.conditions):
        p.error(f"--conditions names a condition twice: {','.join(args.conditions)}")
    if args.jobs < 1:
        p.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.seed < 0:
        p.error(f"--seed must be >= 0, got {args.seed}")
    return args, extra


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        written = write_conditions(args.data_dir, args.out, args.conditions, args.seed)
        reused = [c for c in args.conditions if c not in written]
        if reused:
            print(f"reusing existing {', '.join(reused)} under {args.out}", file=sys.stderr)
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = {c: pool.submit(decode, args.exp_dir, args.out / c, args.method, extra)
                       for c in args.conditions}
            results = {c: f.result() for c, f in futures.items()}
    except AsrError as e:
        print(f"audio_conditions.py: error: {e}", file=sys.stderr)
        return 2
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
