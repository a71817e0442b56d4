#!/usr/bin/env python3
"""Align and decode one recording of an hour: memory, time and word-time error against the
same utterances aligned and decoded one by one (the reference, in the same run).

Builds, from data dirs whose data prep wrote a ref.ctm (the digits recipe's test and
test_unseen: each word's true place), one recording by joining their utterances in order,
again and again, until --minutes of audio, with its transcript and reference CTM shifted
to match; and a dir of the distinct utterances it used. Then runs 'asr align' and
'asr decode --ctm' on each in a fresh process, and reports wall time, peak RSS, the
boundary error of the word times against the reference CTM ('asr score-ctm') and the
decode's %WER.

    python scripts/bench_align_long.py --exp-dir /tmp/dgr/exp/bilstm \\
        --sets /tmp/dgr/data/test /tmp/dgr/data/test_unseen [--minutes 60] [--dir /tmp/al]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Row, print_table  # noqa: E402

from asr.data.ctm import CtmWord, format_ctm, read_ctm  # noqa: E402
from asr.data.kaldi_dir import read_kv, write_data_dir  # noqa: E402


def build(sets: list[Path], minutes: float, out: Path) -> float:
    """out/long (one recording) and out/pieces (its distinct utterances); its seconds."""
    wavs, texts, spks, refs = {}, {}, {}, {}
    for s in sets:
        wavs.update(read_kv(s / "wav.scp"))
        texts.update(read_kv(s / "text"))
        spks.update(read_kv(s / "utt2spk"))
        refs.update(read_ctm(s / "ref.ctm"))
    audio, words, text, used, offset, rate = [], [], [], set(), 0.0, None
    while offset < minutes * 60:
        for utt, path in wavs.items():
            samples, rate = soundfile.read(path, dtype="int16")
            audio.append(samples)
            words += [CtmWord(w.word, w.start + offset, w.end + offset, None) for w in refs[utt]]
            text.append(texts[utt])
            used.add(utt)
            offset += samples.size / rate
            if offset >= minutes * 60:
                break
    long_dir = out / "long"
    (long_dir / "wav").mkdir(parents=True, exist_ok=True)
    soundfile.write(long_dir / "wav" / "rec.wav", np.concatenate(audio), rate,
                    subtype="PCM_16")
    write_data_dir(long_dir, {"rec": str(long_dir / "wav" / "rec.wav")},
                   {"rec": " ".join(text)}, {"rec": "rec"})
    (long_dir / "ref.ctm").write_text(format_ctm({"rec": words}))
    pieces = out / "pieces"
    order = [u for u in wavs if u in used]
    write_data_dir(pieces, {u: wavs[u] for u in order}, {u: texts[u] for u in order},
                   {u: spks[u] for u in order})
    (pieces / "ref.ctm").write_text(format_ctm({u: refs[u] for u in order}))
    return offset


def run(args: list[str]) -> dict:
    """An asr command in a fresh process: its output, wall time and peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "asr", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"asr {' '.join(args)} failed:\n{log}")
    return {"log": log, "wall": time.perf_counter() - t0, "rss_mb": usage.ru_maxrss / 1024}


def boundary(ctm: Path, data: Path) -> str:
    out = run(["score-ctm", str(ctm), "--ref", str(data / "ref.ctm")])["log"]
    m = re.search(r"mean ([\d.]+) ms, 95th percentile ([\d.]+) ms.*?\((\d+) of (\d+)", out)
    return f"{m.group(1)} / {m.group(2)} ms ({m.group(3)}/{m.group(4)} words)" if m else out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--sets", type=Path, nargs="+", required=True)
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--dir", type=Path, default=Path("/tmp/bench_align_long"))
    args = p.parse_args()
    seconds = build(args.sets, args.minutes, args.dir)
    rows, sections = [], []
    for command in ("align", "decode"):
        res = {}
        for name in ("long", "pieces"):
            data, out = args.dir / name, args.dir / f"{command}_{name}"
            extra = ["--ctm"] if command == "decode" else []
            res[name] = run([command, "--exp-dir", str(args.exp_dir), "--data-dir", str(data),
                             "--out", str(out), *extra])
            res[name]["boundary"] = boundary(out / "ctm", data)
            wer = re.search(r"%WER [\d.]+ \[[^]]*\]", res[name]["log"])
            res[name]["wer"] = wer.group(0) if wer else "-"
        ours, ref = res["long"], res["pieces"]
        label = f"asr {command}"
        rows += [Row("wall s", f"{ours['wall']:.1f}", f"{ref['wall']:.1f}",
                     f"{ours['wall'] / ref['wall']:.2f}"),
                 Row("peak RSS MB", f"{ours['rss_mb']:.0f}", f"{ref['rss_mb']:.0f}",
                     f"{ours['rss_mb'] / ref['rss_mb']:.2f}"),
                 Row("boundary error mean / p95", ours["boundary"], ref["boundary"])]
        sections += [label] * 3
        if command == "decode":
            rows.append(Row("score", ours["wer"], ref["wer"]))
            sections.append(label)
    print_table([f"one recording of {seconds / 60:.1f} min joined from "
                 f"{', '.join(str(s) for s in args.sets)} (ours) against its distinct "
                 f"utterances one by one (reference); exp {args.exp_dir}; {os.cpu_count()} "
                 "cores"], rows, sections)


if __name__ == "__main__":
    main()
