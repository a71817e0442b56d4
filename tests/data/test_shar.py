"""Shard dirs ('asr shar', data.source: lhotse_shar): written verified and resumable, read
back exactly, corrupt shards named, and batch plans that resume at any batch with any
number of DataLoader workers."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from asr.config.schema import FbankConfig, SpecAugmentConfig
from asr.data import shar_write
from asr.data.ark import read_matrix
from asr.data.audio import load_audio
from asr.data.dataset import OnTheFlyFbank, UtteranceItems
from asr.data.features import write_data_dir_feats
from asr.data.kaldi_dir import DataDir
from asr.data.sampler import BucketBatchSampler
from asr.data.shar_index import INDEX, ShardIndex
from asr.data.shar_plan import ShardPlan
from asr.data.shar_read import (
    ShardBatches,
    ShardFeatures,
    iterate_shard,
    open_index,
    plan_lengths,
    shard_data,
)
from asr.data.shar_write import write_shards
from asr.data.tokenizer import train_tokenizer
from asr.errors import DataError
from asr.testing import make_data_dir

CFG = FbankConfig(sample_rate=8000, num_mel_bins=23)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("shar") / "d"
    texts = make_data_dir(d, num_utts=11)
    write_data_dir_feats(d, CFG)
    train_tokenizer(list(texts.values()), d.parent / "lang", "char")
    return d


def read_all(out, content):
    index = open_index(str(out))
    return {cut.id: shard_data(cut, content) for s in index.shards
            for cut in iterate_shard(index.paths(str(out), s), f"shard {s.number}")}


def digests(out) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())
            if p.suffix in (".tar", ".gz")}


def test_shards_hold_exactly_the_data_dir(data, tmp_path):
    d = DataDir.load(data)
    feats = write_shards(data, tmp_path / "f", shard_size=4)
    assert feats.content == "features" and [s.num_cuts for s in feats.shards] == [4, 4, 3]
    assert (tmp_path / "f" / "feats.yaml").is_file() and feats.complete
    got = read_all(tmp_path / "f", "features")
    assert list(got) == d.utt_ids
    for u, m in got.items():
        assert np.array_equal(m, read_matrix(u, d.feats_scp[u]))
    audio = write_shards(data, tmp_path / "a", shard_size=5, content="audio")
    assert audio.sample_rate == 8000
    for u, samples in read_all(tmp_path / "a", "audio").items():
        ref, _ = load_audio(*d.audio_of(u)[:1], u)
        assert np.array_equal(samples, ref.numpy()), u
    lengths = [n for s in audio.shards for n in s.lengths]
    assert lengths == [len(load_audio(d.wav_scp[u], u)[0]) for u in d.utt_ids]
    cuts = {c.id: c for s in audio.shards for c in iterate_shard(
        audio.paths(str(tmp_path / "a"), s), "x")}
    assert cuts[d.utt_ids[0]].text == d.text[d.utt_ids[0]]
    assert cuts[d.utt_ids[0]].speaker == d.utt2spk[d.utt_ids[0]]
    from lhotse import CutSet  # lhotse reads them as its own Shar

    ours = read_all(tmp_path / "a", "audio")
    fields = {k: [audio.paths(str(tmp_path / "a"), s)[k] for s in audio.shards]
              for k in ("cuts", "recording")}
    for cut in CutSet.from_shar(fields=fields):
        assert np.array_equal(cut.load_audio()[0] * 32768, ours[cut.id])


def test_a_killed_write_resumes_at_its_first_unfinished_shard(data, tmp_path, monkeypatch):
    fresh = tmp_path / "fresh"
    write_shards(data, fresh, shard_size=3, content="audio")
    out = tmp_path / "killed"
    real = shar_write._write_shard
    written = []

    def dies_at_shard_2(d, utts, number, *args):
        if number == 2:
            raise KeyboardInterrupt  # a kill mid-shard: its temp dir is left behind
        written.append(number)
        return real(d, utts, number, *args)

    monkeypatch.setattr(shar_write, "_write_shard", dies_at_shard_2)
    with pytest.raises(KeyboardInterrupt):
        write_shards(data, out, shard_size=3, content="audio")
    with pytest.raises(DataError, match="did not finish; run it again"):
        ShardIndex.load(out)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.000001.*")}
    monkeypatch.setattr(shar_write, "_write_shard", real)
    monkeypatch.setattr(gzip, "time", SimpleNamespace(time=lambda: 2e9))  # resumed much later
    written.clear()
    write_shards(data, out, shard_size=3, content="audio")
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.000001.*")} == before
    assert digests(out) == digests(fresh) and not list(out.glob(".tmp*"))
    with pytest.raises(DataError, match="holds shards of another job"):
        write_shards(data, out, shard_size=4, content="audio")


def test_verify_names_a_changed_file(data, tmp_path):
    out = tmp_path / "s"
    write_shards(data, out, shard_size=4)
    index = ShardIndex.load(out)
    index.check_files(out, checksums=True)
    tar = out / "features.000001.tar"
    raw = bytearray(tar.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    tar.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="features.000001.tar: SHA-256 differs"):
        index.check_files(out, checksums=True)
    tar.write_bytes(bytes(raw[:len(raw) // 2]))
    with pytest.raises(DataError, match="features.000001.tar: .* bytes, .* when written"):
        open_index(str(out))


def test_a_truncated_shard_is_an_error_naming_shard_and_cut_or_skipped(data, tmp_path):
    out = tmp_path / "s"
    write_shards(data, out, shard_size=4, content="audio")
    index = ShardIndex.load(out)
    tar = out / "recording.000001.tar"
    tar.write_bytes(tar.read_bytes()[:tar.stat().st_size * 2 // 3])
    with pytest.raises(DataError, match=r"shard 1 .*cuts.000001.*after cut '"):
        list(iterate_shard(index.paths(str(out), index.shards[1]), "shard 1"))
    tok_dir = data.parent / "lang"
    for skip in (False, True):
        batches = shard_batches(out, index, tok_dir, skip_bad=skip)
        if not skip:
            with pytest.raises(DataError, match="shard 1 of .*after cut '"):
                list(batches)
            continue
        got = list(batches)
        skipped = [u for b in got for u in b.skipped]
        kept = [u for b in got for u in b.utt_ids]
        assert skipped and len(skipped) + len(kept) == 11
        assert all(u.startswith("shard 1 cut") for u in skipped)


def test_a_recording_source_in_the_cuts_is_never_opened(data, tmp_path):
    """A shard whose cuts' JSON names a command as the audio source: the samples come from
    the tar, and the command never runs."""
    import gzip

    out = tmp_path / "s"
    write_shards(data, out, shard_size=20, content="audio")
    marker = tmp_path / "MARKER"
    path = out / "cuts.000000.jsonl.gz"
    cuts = [json.loads(line) for line in gzip.open(path, "rt")]
    for c in cuts:
        c["recording"]["sources"] = [{"type": "command", "channels": [0],
                                      "source": f"touch {marker}"}]
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(c) + "\n" for c in cuts)
    d = DataDir.load(data)
    for cut in iterate_shard({"cuts": str(path), "recording": str(out / "recording.000000.tar")},
                             "shard 0"):
        ref, _ = load_audio(d.wav_scp[cut.id], cut.id)
        assert np.array_equal(shard_data(cut, "audio"), ref.numpy())
    assert not marker.exists()


def shard_batches(out, index, tok_dir, skip_bad=False, lanes=1, buffer_shards=2, start=0,
                  specaug=False):
    from asr.data.tokenizer import load_tokenizer

    tok = load_tokenizer(tok_dir)
    lengths = plan_lengths(index, CFG)
    plan = ShardPlan(lengths, 400, 100, seed=1, buffer_shards=buffer_shards, lanes=lanes)
    plan.set_epoch(2, start)
    fbank = OnTheFlyFbank(CFG) if index.content == "audio" else None
    items = UtteranceItems(lambda x, u: x, SpecAugmentConfig() if specaug else None, 1,
                           ShardFeatures(index.content, fbank, index.sample_rate), skip_bad)
    items.epoch = 2
    return ShardBatches(str(out), index, plan, items, tok, lambda t: t // 4,
                        lambda n: n)


def test_plan_with_one_buffer_is_the_data_dir_samplers(data):
    lengths = [[random.Random(i).randint(50, 400) for i in range(k, k + 7)] for k in (0, 7, 14)]
    flat = [n for s in lengths for n in s]
    for epoch, sortagrad in ((1, True), (2, True), (3, False)):
        plan = ShardPlan(lengths, 1000, 8, seed=5, sortagrad=sortagrad, pool_batches=2,
                         buffer_shards=3)
        ref = BucketBatchSampler(flat, 1000, 8, seed=5, sortagrad=sortagrad, pool_batches=2)
        assert [list(b.cuts) for b in plan.batches(epoch)] == ref.batches(epoch)


def test_ranks_read_their_own_shards_and_take_the_same_number_of_steps():
    lengths = [[100 + 10 * ((s * 7 + i) % 13) for i in range(5 + s % 3)] for s in range(9)]
    plans = [ShardPlan(lengths, 400, 100, seed=2, buffer_shards=2, rank=r, world_size=3)
             for r in range(3)]
    for epoch in (1, 2):
        shards = [{p.shard_of(c)[0] for b in p.batches(epoch) for c in b.cuts} for p in plans]
        assert not shards[0] & shards[1] and not shards[1] & shards[2]
        assert len({len(p.batches(epoch)) for p in plans}) == 1
    assert plans[0].batches(1) != plans[0].batches(2)  # a new shard order each epoch
    with pytest.raises(DataError, match="3 shards for 4 ranks"):
        ShardPlan(lengths[:3], 400, 100, rank=0, world_size=4)
    # dev (nothing dropped, no steps to match): a rank without a shard validates nothing
    dev = [ShardPlan(lengths[:3], 400, 100, shuffle=False, rank=r, world_size=4,
                     drop_uneven=False) for r in range(4)]
    assert not dev[3].batches(1) and sum(len(p.batches(1)) for p in dev) > 0


def ids(batches) -> list[list[str]]:
    return [b.utt_ids for b in batches]


def test_workers_and_resumes_give_the_plans_batches(data, tmp_path):
    """Two DataLoader workers read other buffers yet return the plan's order, from the
    start and from a resume point in each lane; the features are those one process
    computes (SpecAugment draws per utterance and epoch)."""
    out = tmp_path / "s"
    write_shards(data, out, shard_size=2, content="audio")
    index = ShardIndex.load(out)
    tok = data.parent / "lang"
    one = list(shard_batches(out, index, tok, lanes=2, specaug=True))
    plan = shard_batches(out, index, tok, lanes=2).plan
    d = DataDir.load(data)
    expected = [[d.utt_ids[c] for c in b.cuts] for b in plan.batches(2)]
    assert ids(one) == expected and len({b.lane for b in plan.batches(2)}) == 2
    for start in (0, 1, 2, len(one) - 1):
        ds = shard_batches(out, index, tok, lanes=2, start=start, specaug=True)
        got = list(DataLoader(ds, batch_size=None, num_workers=2))
        assert ids(got) == expected[start:], start
        for a, b in zip(got, one[start:], strict=True):
            assert torch.equal(a.feats, b.feats)


def test_index_format_is_checked(tmp_path):
    (tmp_path / INDEX).write_text(json.dumps({"format": "other"}))
    with pytest.raises(DataError, match="not a shard index"):
        ShardIndex.load(tmp_path)
