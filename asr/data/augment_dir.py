"""Augmented copies of a data dir ('asr augment-data'), with Kaldi's naming: utterance and
speaker ids get a prefix (``rev1-``, ``noise1-``), as ``sp0.9-`` marks speed copies.

The copy is what training with the same data.augment section would see for each
utterance at probability 1, drawn per (seed, new utterance id): another prefix or seed
gives another copy. Combine copies with the original using 'asr combine-data'.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from asr.config.augment_schema import AugmentConfig
from asr.data.audio import load_audio, write_wav
from asr.data.kaldi_dir import DataDir, write_data_dir
from asr.data.wave_augment import WaveAugment
from asr.errors import DataError

log = logging.getLogger(__name__)


def augment_data_dir(src: Path, dst: Path, cfg: AugmentConfig, prefix: str, seed: int = 0,
                     allow_pipes: bool = True) -> int:
    """Write ``dst`` holding every utterance of ``src`` augmented once; return the count.

    Sources are checked against each sample rate the audio of ``src`` has. Without
    ``allow_pipes`` a ``cmd |`` entry in ``src`` or a source is refused before it runs.
    """
    if not prefix:
        raise DataError("the prefix must not be empty: augmented ids must differ from the "
                        "originals, or combining them with the source would clash")
    if cfg.vtlp.prob > 0:
        raise DataError("VTLP warps the filterbank, not the audio: use data.augment.vtlp "
                        "on the fly instead")
    if not cfg.active:
        raise DataError("nothing to do: no augmentation asked for")
    d = DataDir.load(src, allow_pipes)
    d.require("wav.scp", "text", "utt2spk")
    assert d.text is not None and d.utt2spk is not None
    wav_dir = (Path(dst) / "wav").resolve()
    wav_dir.mkdir(parents=True, exist_ok=True)
    by_rate: dict[int, WaveAugment] = {}
    wav_scp, text, utt2spk = {}, {}, {}
    for utt in tqdm(d.utt_ids, desc=f"augment {prefix}", mininterval=5):
        new = prefix + utt
        rx, start, end = d.audio_of(utt)
        samples, rate = load_audio(rx, utt, start, end, allow_pipes)
        if rate not in by_rate:
            by_rate[rate] = WaveAugment(cfg, rate, seed, allow_pipes)
        out, _ = by_rate[rate](samples, 0, new)
        wav_scp[new] = write_wav(wav_dir / f"{new}.wav", out, rate)
        text[new] = d.text[utt]
        utt2spk[new] = prefix + d.utt2spk[utt]
    write_data_dir(Path(dst), wav_scp, text, utt2spk)
    log.info("%s: %d utterances of %s augmented (%s)", dst, len(wav_scp), src, prefix)
    return len(wav_scp)
