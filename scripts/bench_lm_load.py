#!/usr/bin/env python3
"""Time and size an n-gram LM of real size: ARPA read + build against the compiled file.

Synthesizes a deterministic word 3-gram ARPA file (Zipf-distributed words; by default
200k words and 3.2M n-grams, the size of LibriSpeech's pruned 3-gram), then runs each
step in a fresh process and reports its time and peak RSS: the ARPA read into arrays +
table build, 'asr compile-lm', and the load a later decode does (map + checksums + token
tables + one search). The ratio column compares each row with the ARPA read + build of
the same run. The searches over
the same random log-probs with tables built from the ARPA and loaded from the compiled
file must give the same hypotheses.

    python scripts/bench_lm_load.py [--words 200000] [--ngrams 3200000] [--dir /tmp/bench_lm]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba is imported

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Row, print_table  # noqa: E402

LETTERS = "abcdefghijklmnopqrstuvwxyz"
TOKENS = ["<blk>", "<unk>", "▁", *LETTERS]


def word(i: int) -> str:
    """The i-th word: i in base 26, at least two letters (so none is a token)."""
    s = ""
    i += 26
    while i:
        i, r = divmod(i, 26)
        s = LETTERS[r] + s
    return s


def synthesize(path: Path, num_words: int, num_ngrams: int) -> None:
    """A backoff-consistent 3-gram ARPA: every trigram's bigram history is listed."""
    rng = np.random.default_rng(0)
    words = ["<s>", "</s>", "<unk>"] + [word(i) for i in range(num_words - 3)]
    v = len(words)

    def zipf(n: int) -> np.ndarray:
        return np.minimum(rng.zipf(1.1, n) - 1, v - 1) if n else np.zeros(0, np.int64)

    n_bi = (num_ngrams - v) // 2
    bi = np.unique(zipf(3 * n_bi) * v + zipf(3 * n_bi))[:n_bi]
    bi = rng.permutation(bi)[:n_bi]
    n_tri = num_ngrams - v - len(bi)
    hist = bi[rng.integers(0, len(bi), 3 * n_tri)]
    tri = np.unique(hist * v + zipf(3 * n_tri))
    tri = rng.permutation(tri)[:n_tri]
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"\\data\\\nngram 1={v}\nngram 2={len(bi)}\nngram 3={len(tri)}\n\n\\1-grams:\n")
        lp = -rng.random(v) * 6
        f.writelines(f"{p:.4f}\t{w}\t{-b:.4f}\n" for p, w, b in zip(lp, words, rng.random(v),
                                                                  strict=True))
        f.write("\n\\2-grams:\n")
        a, b = np.divmod(bi, v)
        f.writelines(f"{p:.4f}\t{words[x]} {words[y]}\t{-q:.4f}\n" for p, x, y, q in
                     zip(-rng.random(len(bi)) * 4, a, b, rng.random(len(bi)), strict=True))
        f.write("\n\\3-grams:\n")
        ab, c = np.divmod(tri, v)
        a, b = np.divmod(ab, v)
        f.writelines(f"{p:.4f}\t{words[x]} {words[y]} {words[z]}\n" for p, x, y, z in
                     zip(-rng.random(len(tri)) * 3, a, b, c, strict=True))
        f.write("\n\\end\\\n")


def compiled_bytes(num_ngrams: int, num_words: int) -> int:
    """Array bytes of the tables of an LM this size (hash tables at load <= 0.5: 12 bytes a
    slot; per node 24 bytes: two float64 log-probs, int32 suffix link and order)."""
    from asr.functional.fusion_table import empty_hash_table

    def table(n: int) -> int:
        return 12 * len(empty_hash_table(n)[0])

    return table(num_ngrams + 1) + 24 * (num_ngrams + 1) + table(num_words)


def log_probs(vocab: list[str]) -> tuple:
    """Random (N, T, V) log-probs that spell frequent LM words now and then."""
    import torch

    rng = np.random.default_rng(1)
    x = rng.normal(0, 2, (8, 200, len(TOKENS)))
    for n in range(8):  # plant word spellings so the LM has words to score
        t = 0
        while t < 190:
            w = vocab[3 + int(rng.zipf(1.3)) % 50]
            for ch in "▁" + w:
                if t >= 200:
                    break
                x[n, t, TOKENS.index(ch)] += 6
                t += 2
            t += 1
    lp = torch.log_softmax(torch.tensor(x, dtype=torch.float32), -1)
    return lp, torch.full((8,), 200)


def search(tables) -> tuple[list, float]:
    """Hypotheses of a beam-10 search fused with ``tables`` (None: no LM), and its time."""
    from asr.functional.ctc_search import ctc_prefix_beam_search
    from asr.lm.fusion import fusion_tables

    fusion = None if tables is None else fusion_tables(tables, TOKENS, 0.5, 0.5,
                                                       word_start="▁", unk="<unk>")
    vocab = [word(i) for i in range(60)]
    lp, lens = log_probs(["<s>", "</s>", "<unk>", *vocab])
    t0 = time.perf_counter()
    hyps = ctc_prefix_beam_search(lp, lens, beam_size=10, lm=fusion)
    return hyps, time.perf_counter() - t0


def phase(name: str, arpa: Path, compiled: Path) -> dict:
    """One step, in this (fresh) process: its seconds and, for searches, the hypotheses."""
    out: dict = {}
    search(None)  # compile or load the numba cache before timing anything
    t0 = time.perf_counter()
    if name == "build":
        from asr.lm.arpa_arrays import read_arpa_arrays
        from asr.lm.ngram_tables import build_ngram_tables

        tables = build_ngram_tables(read_arpa_arrays(arpa))
        out["seconds"] = time.perf_counter() - t0
        out["hyps"], out["search"] = search(tables)
    elif name == "compile":
        from asr.lm.compiled_lm import compile_arpa

        compile_arpa(arpa, compiled)
    elif name == "load":
        from asr.lm.compiled_lm import load_lm

        tables = load_lm(compiled)
        out["seconds"] = time.perf_counter() - t0
        out["hyps"], out["search"] = search(tables)
    elif name == "nolm":
        out["hyps"], out["search"] = search(None)
    out.setdefault("seconds", time.perf_counter() - t0)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_phase(name: str, arpa: Path, compiled: Path) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--arpa", str(arpa),
           "--compiled", str(compiled)]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--words", type=int, default=200_000)
    p.add_argument("--ngrams", type=int, default=3_200_000)
    p.add_argument("--dir", type=Path, default=Path("/tmp/bench_lm"))
    p.add_argument("--phase", help=argparse.SUPPRESS)
    p.add_argument("--arpa", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--compiled", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.arpa, args.compiled)))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    arpa = args.dir / f"zipf_{args.words}w_{args.ngrams}.arpa"
    compiled = arpa.with_suffix(".asrlm")
    if not arpa.is_file():
        t0 = time.perf_counter()
        synthesize(arpa, args.words, args.ngrams)
        print(f"# synthesized {arpa} in {time.perf_counter() - t0:.1f} s")
    compiled.unlink(missing_ok=True)
    r = {n: run_phase(n, arpa, compiled) for n in ["nolm", "build", "compile", "load"]}
    ref = r["build"]["seconds"]
    n_ngrams = sum(int(line.split("=")[1]) for line in open(arpa, encoding="utf-8")
                   if line.startswith("ngram "))
    per_ngram = compiled.stat().st_size / n_ngrams
    rows = []
    labels = {"build": "ARPA array read + table build", "compile": "asr compile-lm (build + write)",
              "load": "compiled load (map + CRC + range checks)"}
    for n in ["build", "compile", "load"]:
        rows.append(Row(f"{labels[n]}: seconds", f"{r[n]['seconds']:.2f}", f"{ref:.2f}",
                        f"{r[n]['seconds'] / ref:.3f}"))
    for n in ["nolm", "build", "load"]:
        what = "search without LM" if n == "nolm" else labels[n]
        rows.append(Row(f"{what}: peak RSS MB", f"{r[n]['peak_rss_mb']:.0f}",
                        f"{r['build']['peak_rss_mb']:.0f}",
                        f"{r[n]['peak_rss_mb'] / r['build']['peak_rss_mb']:.2f}"))
    extra = r["load"]["seconds"] + r["load"]["search"] - r["nolm"]["search"]
    rows.append(Row("LM cost of a later decode: load + fused search - plain search, s",
                    f"{extra:.2f}", f"{ref:.2f}", f"{extra / ref:.3f}"))
    rows.append(Row("compiled file: bytes per n-gram", f"{per_ngram:.1f}"))
    rows.append(Row("40M n-gram 4-gram, 1M words: compiled size (= its mapped RSS), GB",
                    f"{compiled_bytes(40_000_000, 1_000_000) / 1e9:.2f}"))
    build_per_ngram = (r["build"]["peak_rss_mb"] - r["nolm"]["peak_rss_mb"]) * 2**20 / n_ngrams
    rows.append(Row("40M n-gram 4-gram: build peak RSS, estimated from this build, GB",
                    f"{(r['nolm']['peak_rss_mb'] * 2**20 + build_per_ngram * 40e6) / 1e9:.2f}"))
    same = r["build"]["hyps"] == r["load"]["hyps"]
    print_table([f"{arpa} ({arpa.stat().st_size / 1e6:.0f} MB, {n_ngrams} n-grams), "
                 f"{compiled.stat().st_size / 1e6:.0f} MB compiled; each row a fresh process, "
                 "1 thread; reference: ARPA array read + build",
                 f"search output, ARPA-built vs compiled tables: "
                 f"{'identical' if same else 'DIFFERENT'}"], rows)
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
