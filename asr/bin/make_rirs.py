"""Write simulated room impulse responses (for data.augment.reverb) when none are at hand.

Exponentially decaying Gaussian noise after a direct-path impulse (Polack's model), with
RT60 and direct-to-reverberant ratio drawn per RIR. Writes OUT_DIR/wav/rir-NNNNN.wav,
OUT_DIR/wav.scp and OUT_DIR/rir2rt60 (id, RT60 s, DRR dB).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.bin import parse_range


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="for the RIRs and wav.scp")
    p.add_argument("--num", type=int, default=200, help="how many RIRs (default 200)")
    p.add_argument("--sample-rate", type=int, default=16000, help="Hz (default 16000)")
    p.add_argument("--seed", type=int, default=0, help="RIR i depends on (seed, i) only")
    p.add_argument("--rt60", default="0.2:0.8", help="RT60 range in s (default 0.2:0.8)")
    p.add_argument("--drr", default="0:10", help="direct-to-reverberant ratio range in dB "
                                                 "(default 0:10)")


def main(args: argparse.Namespace) -> int:
    from asr.data.rir_sim import write_rirs
    from asr.log_setup import setup_logging

    setup_logging()
    n = write_rirs(args.out_dir, args.num, args.sample_rate, args.seed,
                   parse_range("--rt60", args.rt60), parse_range("--drr", args.drr))
    print(f"{args.out_dir}: {n} RIRs at {args.sample_rate} Hz")
    return 0
