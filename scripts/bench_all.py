"""Every benchmark of the project in one run, printed as one table of ratios.

Data (Dataset random access against raw kaldiio, fbank against lhotse and torchaudio),
a training step (against bare torch loops) and decoding (against flashlight-text), each
measured against its reference in the same run. Decoding needs the references:
pip install -e ".[bench]". --quick uses fewer utterances and repeats (about 2 minutes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_data  # noqa: E402
import bench_decode  # noqa: E402
import bench_train_step  # noqa: E402
from benchlib import Row, print_table  # noqa: E402

QUICK = {"data": ["--num-utts", "300", "--repeats", "2"],
         # smaller batches, so that enough interleaved blocks fit: 8 x 2 steps of each loop
         "training step": ["--batch", "8", "--frames", "200", "--blocks", "8",
                           "--per-block", "2", "--warmup", "2", "--threads", "1"],
         "decoding": ["--repeats", "2"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    notes: list[str] = []
    sections: list[tuple[str, list[Row]]] = []
    for name, module in (("data", bench_data), ("training step", bench_train_step),
                         ("decoding", bench_decode)):
        t0 = time.time()
        try:
            sub_notes, rows = module.run(module.parser().parse_args(
                QUICK[name] if args.quick else []))
        except ImportError as e:  # only the decoding references are optional
            print(f"{name}: skipped, {e} (pip install -e '.[bench]')", file=sys.stderr)
            continue
        notes += [f"{name}: {n}" for n in sub_notes] + [f"{name}: {time.time() - t0:.0f} s"]
        sections.append((name, rows))
    rows = [r for _, section in sections for r in section]
    print_table(notes, rows, [name for name, section in sections for _ in section])
    return 0 if len(sections) == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
