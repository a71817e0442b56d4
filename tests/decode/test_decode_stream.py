"""Streaming decode of a data dir: the same hyps as decoding all features held in memory,
in the data dir's order whatever the search threads, with at most one batch of features
read ahead of the model; lengths come from utt2num_frames or the audio headers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import asr.decode.data_dir as data_dir_module
from asr.config.schema import FbankConfig
from asr.data.features import write_data_dir_feats
from asr.data.kaldi_dir import DataDir, read_kv
from asr.decode.batches import estimated_frames, plan_batches
from asr.decode.data_dir import decode_data_dir, decode_features, feature_reader
from asr.decode.search import SearchSpec, make_search
from asr.exp.experiment import Experiment
from asr.functional.ctc_search import ctc_prefix_beam_search_nbest
from asr.testing import make_data_dir, make_exp_dir

FEATS = FbankConfig(sample_rate=8000, num_mel_bins=23)
MAX_FRAMES = 600  # a few utterances per batch: several batches from a small dir


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    exp = Experiment.load(make_exp_dir(root / "exp", feats=FEATS))
    make_data_dir(root / "wavs", num_utts=12, max_digits=4)
    make_data_dir(root / "feats", num_utts=12, max_digits=4, seed=1)
    write_data_dir_feats(root / "feats", FEATS)
    return exp, root


def in_memory_hyps(exp: Experiment, data_dir, search) -> dict[str, str]:
    """The old way: every utterance's features read first, then decoded."""
    utts, read = feature_reader(exp, data_dir, False)
    raw = {u: read(u).astype(np.float32) for u in utts}
    ids = decode_features(exp.load_model(), {u: torch.from_numpy(m) for u, m in raw.items()},
                          exp.normalizer(data_dir, raw.items()), search, MAX_FRAMES)
    return {u: exp.tokenizer.decode(ids[u]) for u in utts}


@pytest.mark.parametrize("name", ["wavs", "feats"])
def test_streamed_decode_equals_the_all_in_memory_decode(world, name):
    exp, root = world
    search = make_search(exp, SearchSpec("prefix_beam", beam=4))
    result = decode_data_dir(exp, root / name, search=search, max_frames=MAX_FRAMES)
    assert result.hyps == in_memory_hyps(exp, root / name, search)
    assert list(result.hyps) == DataDir.load(root / name).utt_ids
    assert result.stages is not None and result.stages.search > 0


def test_audio_headers_give_the_exact_frame_counts(world):
    _, root = world
    d = DataDir.load(root / "wavs")
    want = {u: int(n) for u, n in read_kv(root / "feats" / "utt2num_frames").items()}
    assert estimated_frames(DataDir.load(root / "feats"), None) == want
    utts, read = feature_reader(world[0], root / "wavs", False)
    assert estimated_frames(d, FEATS) == {u: read(u).shape[0] for u in utts}


def test_hyps_and_their_order_do_not_depend_on_search_threads(world):
    exp, root = world
    results = [decode_data_dir(exp, root / "wavs", search=make_search(
        exp, SearchSpec("prefix_beam", beam=4, search_threads=n)), max_frames=MAX_FRAMES)
        for n in (1, 2)]
    assert list(results[0].hyps.items()) == list(results[1].hyps.items())
    g = torch.Generator().manual_seed(0)
    lp = torch.log_softmax(3 * torch.randn(9, 40, 12, generator=g), -1)
    lens = torch.tensor([40, 3, 17, 0, 40, 22, 1, 39, 8])
    one, two = (ctc_prefix_beam_search_nbest(lp, lens, 6, 3, num_threads=n) for n in (1, 2))
    assert one == two


def test_at_most_one_batch_of_features_is_held(world, monkeypatch):
    exp, root = world
    reads, searched, held = [], [], []
    real_reader = data_dir_module.feature_reader

    def counting_reader(*args, **kwargs):
        utts, read = real_reader(*args, **kwargs)

        def count(u):
            reads.append(u)
            held.append(len(reads) - len(searched))  # read but not yet through the search
            return read(u)

        return utts, count

    def search(log_probs, lens):
        searched.extend(range(log_probs.shape[0]))
        return [[] for _ in range(log_probs.shape[0])]

    monkeypatch.setattr(data_dir_module, "feature_reader", counting_reader)
    result = decode_data_dir(exp, root / "feats", search=search, max_frames=MAX_FRAMES)
    d = DataDir.load(root / "feats")
    batches = plan_batches(d.utt_ids, estimated_frames(d, None), MAX_FRAMES)
    assert len(batches) > 2 and len(result.hyps) == 12
    assert sorted(reads) == d.utt_ids  # each utterance read once
    assert max(held) == max(len(b) for b in batches)


def test_unknown_lengths_decode_in_data_dir_order_one_batch_at_a_time(world, tmp_path):
    exp, root = world
    d = DataDir.load(root / "wavs")
    lines = [f"{u} cat {d.wav_scp[u]} |" for u in d.utt_ids]  # a pipe: no header to read
    (tmp_path / "pipes").mkdir()
    (tmp_path / "pipes" / "wav.scp").write_text("\n".join(lines) + "\n")
    assert estimated_frames(DataDir.load(tmp_path / "pipes"), FEATS) is None
    search = make_search(exp, SearchSpec("greedy"))
    piped = decode_data_dir(exp, tmp_path / "pipes", search=search, max_frames=MAX_FRAMES)
    plain = decode_data_dir(exp, root / "wavs", search=search, max_frames=MAX_FRAMES)
    assert piped.hyps == plain.hyps
