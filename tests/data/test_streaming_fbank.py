"""Streaming fbank: the frames of audio fed in pieces are those of the whole utterance."""

import pytest
import torch

from asr.config.schema import FbankConfig
from asr.data.features import compute_fbank
from asr.data.streaming_fbank import StreamingFbank


@pytest.mark.parametrize("cfg", [FbankConfig(), FbankConfig(sample_rate=8000, num_mel_bins=23),
                                 FbankConfig(frame_length_ms=20.0, frame_shift_ms=7.5)])
@pytest.mark.parametrize("seed", [0, 1])
def test_frames_of_random_pieces_equal_offline_frames(cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    samples = torch.randn(cfg.sample_rate * 2 + 123, generator=gen) * 3000
    offline = compute_fbank(samples, cfg.sample_rate, cfg)
    stream, outs, start = StreamingFbank(cfg), [], 0
    while start < samples.numel():
        # pieces from 0 samples to more than a window, across every frame boundary
        size = int(torch.randint(0, 900, (), generator=gen))
        outs.append(stream.accept(samples[start:start + size]))
        start += size
    streamed = torch.cat(outs)
    assert streamed.shape == offline.shape
    torch.testing.assert_close(streamed, offline, atol=1e-4, rtol=0)


def test_one_sample_at_a_time_and_reset():
    cfg = FbankConfig(sample_rate=8000, num_mel_bins=10)
    samples = torch.randn(1000) * 1000
    stream = StreamingFbank(cfg)
    streamed = torch.cat([stream.accept(samples[i:i + 1]) for i in range(1000)])
    torch.testing.assert_close(streamed, compute_fbank(samples, 8000, cfg), atol=1e-4, rtol=0)
    stream.reset()
    torch.testing.assert_close(stream.accept(samples), compute_fbank(samples, 8000, cfg))


def test_snip_edges_false_is_refused():
    with pytest.raises(ValueError, match="snip_edges"):
        StreamingFbank(FbankConfig(snip_edges=False))
