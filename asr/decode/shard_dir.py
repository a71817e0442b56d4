"""Decoding a shard dir (written by ``asr shar``): shard after shard, front to back, as
training reads them; one shard's cuts in memory, decoded in length-sorted batches.

Features are the shards' own (checked against the exp's feature config) or the exp's
fbank of their audio; the references come from the cuts' transcripts.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from asr.data.features import FEATS_CONFIG, compute_fbank, read_feats_config
from asr.data.shar_read import cut_text, iterate_shard, open_index, shard_data
from asr.decode.batches import plan_batches
from asr.decode.data_dir import DecodeResult, SearchStep, StageSeconds, decode_batches
from asr.decode.defaults import DEFAULT_MAX_FRAMES
from asr.decode.hypothesis import Hypothesis
from asr.decode.search import NbestSearch, Search
from asr.decode.timing import TimingSpec
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.functional.ctc_search import ctc_greedy_search

log = logging.getLogger(__name__)


def decode_shard_dir(exp: Experiment, directory: str, checkpoint: str | None = None,
                     search: Search | NbestSearch = ctc_greedy_search,
                     max_frames: int = DEFAULT_MAX_FRAMES, device: str = "cpu",
                     allow_resample: bool = False, times: TimingSpec | None = None
                     ) -> tuple[DecodeResult, dict[str, str]]:
    """(the result, the cuts' transcripts) of every cut of a shard dir, in stored order.
    Per-speaker CMVN needs a data dir's stats and is refused; word times are on the
    features' clock (digital silence that fbank cut is not put back)."""
    index = open_index(directory)
    if exp.config.data.cmvn == "speaker":
        raise AsrError(f"{exp.path} normalizes per speaker (data.cmvn: speaker), which needs a "
                       "Kaldi data dir's stats; decode the data dir the shards were made of")
    local = Path(directory)
    if index.content == "features" and (local / FEATS_CONFIG).is_file() \
            and read_feats_config(local) != exp.feats:
        raise AsrError(f"{directory}: its features were made with other fbank options than "
                       f"{exp.path}/{FEATS_CONFIG}; write shards of audio ('asr shar "
                       "--content audio') to decode with the exp's own")
    model = exp.load_model(checkpoint, device)
    step = SearchStep(search, times.timer(exp, model) if times is not None else None)
    normalize = exp.normalizer()
    t0 = time.time()
    seconds = StageSeconds()
    found: dict[str, Hypothesis] = {}
    refs: dict[str, str] = {}
    total_frames = 0
    for shard in index.shards:
        t1 = time.perf_counter()
        feats: dict[str, np.ndarray] = {}
        for cut in iterate_shard(index.paths(directory, shard), f"shard {shard.number} of "
                                                                f"{directory}"):
            refs[cut.id] = cut_text(cut)
            data = shard_data(cut, index.content)
            if index.content == "audio":
                data = compute_fbank(torch.from_numpy(data), index.sample_rate, exp.feats,
                                     cut.id, allow_resample, allow_short=True).numpy()
            feats[cut.id] = data
        seconds.read += time.perf_counter() - t1
        batches = plan_batches(list(feats), {u: m.shape[0] for u, m in feats.items()},
                               max_frames)
        for u, hyp, n in decode_batches(model, batches, feats.__getitem__, normalize, step,
                                        device, seconds):
            found[u] = hyp
            total_frames += n
    audio = total_frames * exp.feats.frame_shift_ms / 1000
    result = DecodeResult.of({u: found[u] for u in refs}, exp.tokenizer, audio,
                             time.time() - t0, seconds)
    return result, refs
