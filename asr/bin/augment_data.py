"""Write an augmented copy of a data dir (Kaldi's rev1-/noise1- copies): noise, reverb,
volume and tempo, each utterance once, seeded; ids and speakers get the prefix.

Writes DST/wav/*.wav and DST/{wav.scp,text,utt2spk,spk2utt}. Ranges are LOW:HIGH (one
number: fixed). The default prefix names what was done, e.g. rev1-noise1-.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.bin import add_no_pipes_argument, parse_range


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", type=Path, metavar="SRC_DIR", help="the data dir to augment")
    p.add_argument("dst", type=Path, metavar="DST_DIR", help="the augmented copy to write")
    p.add_argument("--noise-dir", help="noise: a data dir (wav.scp) or a folder of audio")
    p.add_argument("--snr", default="0:20", help="SNR range in dB (default 0:20)")
    p.add_argument("--rir-dir", help="RIRs: a data dir or a folder (see 'asr make-rirs')")
    p.add_argument("--max-rir-seconds", type=float, default=2.0,
                   help="longer RIRs are an error (default 2)")
    p.add_argument("--gain-db", help="volume: gain range in dB, e.g. -6:6")
    p.add_argument("--tempo", help="tempo factor range at the same pitch, e.g. 0.9:1.1")
    p.add_argument("--prefix", help="utterance and speaker id prefix (default: from what is "
                                    "done: tempo1-, rev1-, noise1-, vol1-, in that order)")
    p.add_argument("--seed", type=int, default=0, help="draws depend on (seed, new id)")
    p.add_argument("--allow-resample", action="store_true",
                   help="resample noise and RIRs at another sample rate instead of an error")
    add_no_pipes_argument(p)


def main(args: argparse.Namespace) -> int:
    from asr.config.augment_schema import (
        AugmentConfig,
        NoiseConfig,
        ReverbConfig,
        TempoConfig,
        VolumeConfig,
    )
    from asr.data.augment_dir import augment_data_dir
    from asr.errors import AsrError
    from asr.log_setup import setup_logging

    setup_logging()
    sections, done = {}, []
    asked = (("tempo", "--tempo", args.tempo, lambda: TempoConfig(
                 1.0, parse_range("--tempo", args.tempo))),
             ("reverb", "--rir-dir", args.rir_dir, lambda: ReverbConfig(
                 1.0, args.rir_dir, args.max_rir_seconds, args.allow_resample)),
             ("noise", "--snr", args.noise_dir, lambda: NoiseConfig(
                 1.0, args.noise_dir, parse_range("--snr", args.snr), args.allow_resample)),
             ("volume", "--gain-db", args.gain_db, lambda: VolumeConfig(
                 1.0, parse_range("--gain-db", args.gain_db))))
    for key, option, given, build in asked:
        if given is None:
            continue
        try:
            sections[key] = build()
        except ValueError as e:
            raise AsrError(f"{option}: {e}") from None
        done.append({"reverb": "rev", "volume": "vol"}.get(key, key) + "1-")
    if not sections:
        raise AsrError("nothing to do: give --noise-dir, --rir-dir, --gain-db or --tempo")
    prefix = "".join(done) if args.prefix is None else args.prefix
    n = augment_data_dir(args.src, args.dst, AugmentConfig(**sections), prefix, args.seed,
                         args.allow_pipes)
    print(f"{args.dst}: {n} utterances from {args.src} ({prefix})")
    return 0
