#!/usr/bin/env python3
"""Time the prefix beam search with and without LM fusion on a real model's log-probs.

The model runs once over DATA_DIR; then only the searches are timed (best of 3, one
thread), each row with its ratio to the search without an LM.

    python scripts/bench_fusion.py --exp-dir E --data-dir D --lm LM.arpa [--beam 10]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba is imported

import numpy as np  # noqa: E402
import torch  # noqa: E402

from asr.decode.data_dir import feature_reader  # noqa: E402
from asr.decode.search import SearchSpec, make_search  # noqa: E402
from asr.exp.experiment import Experiment  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--lm", type=Path, required=True)
    p.add_argument("--beam", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    exp = Experiment.load(args.exp_dir)
    model = exp.load_model()
    utts, read = feature_reader(exp, args.data_dir, False)
    raw = {u: read(u).astype(np.float32) for u in utts}
    normalize = exp.normalizer(args.data_dir, raw.items())
    with torch.no_grad():  # one utterance at a time: no padding in the timed searches
        outputs = [model(normalize(torch.from_numpy(raw[u]), u)[None],
                         torch.tensor([raw[u].shape[0]])) for u in utts]
    rows = [("prefix beam", None), ("prefix beam + word LM", args.lm)]
    ms = {}
    for name, lm in rows:
        search = make_search(exp, SearchSpec("prefix_beam", args.beam, lm=lm))
        search(*outputs[0])  # compile or load the cache
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            for log_probs, lens in outputs:
                search(log_probs, lens)
            times.append(time.perf_counter() - t0)
        ms[name] = 1000 * min(times) / len(outputs)
    frames = sum(int(lens[0]) for _, lens in outputs) / len(outputs)
    print(f"# {len(outputs)} utterances of {args.data_dir}, {frames:.0f} output frames on "
          f"average, V={outputs[0][0].shape[-1]}, beam {args.beam}, 1 thread, best of 3")
    print(f"{'search':<34} {'ms/utt':>8} {'vs no LM':>9}")
    for name, _ in rows:
        print(f"{name:<34} {ms[name]:>8.3f} {ms[name] / ms['prefix beam']:>8.2f}x")


if __name__ == "__main__":
    main()
