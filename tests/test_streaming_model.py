"""Chunk-by-chunk inference with caches equals the full forward under the chunk mask."""

import pytest
import torch

from asr.config.schema import (
    BiLSTMConfig,
    ChunkConfig,
    ConformerConfig,
    Conv2dFrontendConfig,
    DwStridingFrontendConfig,
    GradFilterConfig,
    LSTMConfig,
    ModelConfig,
    StackFrontendConfig,
)
from asr.functional.chunk_mask import chunk_attention_mask
from asr.nn.registry import build_model
from asr.nn.streaming import ChunkedCTC, NotStreamableError, streamable_chunk_sizes


def conformer(left_chunks=-1, grad_filter=False, sizes=(2, 3, 4)) -> ConformerConfig:
    return ConformerConfig(d_model=16, num_layers=2, num_heads=2, ff_dim=32, kernel_size=5,
                           causal_conv=True, grad_filter=GradFilterConfig(grad_filter),
                           chunk=ChunkConfig(sizes=sizes, left_chunks=left_chunks))


def feed_in_pieces(streamer: ChunkedCTC, feats: torch.Tensor, seed: int) -> torch.Tensor:
    """feats (T, D) in random-size pieces (0 to 12 frames) -> concatenated log-probs."""
    gen = torch.Generator().manual_seed(seed)
    outs, start = [], 0
    while start < feats.shape[0]:
        size = int(torch.randint(0, 13, (), generator=gen))
        outs.append(streamer.accept(feats[start:start + size]))
        start += size
    outs.append(streamer.finalize())
    return torch.cat(outs)


def test_chunk_mask_sees_own_chunk_and_left_chunks():
    blocked = chunk_attention_mask(7, 2, left_chunks=1)
    allowed = [[j for j in range(7) if not blocked[i, j]] for i in range(7)]
    assert allowed[0] == [0, 1] and allowed[1] == [0, 1]
    assert allowed[4] == [2, 3, 4, 5]  # chunk 2 and chunk 1
    assert allowed[6] == [4, 5, 6]  # the last, partial chunk and one before it
    unlimited = chunk_attention_mask(7, 3)
    assert [int((~unlimited[i]).sum()) for i in range(7)] == [3, 3, 3, 6, 6, 6, 7]


FRONTENDS = [Conv2dFrontendConfig(subsampling=4, channels=4, output_dim=16),
             Conv2dFrontendConfig(subsampling=6, channels=4, output_dim=16),
             Conv2dFrontendConfig(subsampling=8, channels=4, output_dim=12),
             StackFrontendConfig(stack=3)]


@pytest.mark.parametrize("frontend", FRONTENDS, ids=["x4", "x6", "x8", "stack"])
@pytest.mark.parametrize("left_chunks", [-1, 0, 2])
@pytest.mark.parametrize("chunk_size", [2, 3])
def test_conformer_chunked_with_cache_equals_full_forward_with_mask(frontend, left_chunks,
                                                                    chunk_size):
    torch.manual_seed(0)
    model = build_model(ModelConfig(frontend=frontend, encoder=conformer(left_chunks)),
                        20, 9).eval()
    for seed, frames in enumerate([97, 61, 15, 8]):
        feats = torch.randn(frames, 20)
        with torch.no_grad():
            full, lens = model(feats[None], torch.tensor([frames]), chunk_size=chunk_size)
        streamed = feed_in_pieces(ChunkedCTC(model, chunk_size), feats, seed)
        assert streamed.shape[0] == int(lens[0]) == model.output_length(frames)
        torch.testing.assert_close(streamed, full[0, :int(lens[0])], atol=1e-5, rtol=0)


def test_chunk_mask_changes_the_output_and_full_context_is_the_default_in_eval():
    torch.manual_seed(0)
    model = build_model(ModelConfig(frontend=FRONTENDS[0], encoder=conformer()), 20, 9).eval()
    feats, lens = torch.randn(2, 80, 20), torch.tensor([80, 50])
    with torch.no_grad():
        default, _ = model(feats, lens)
        full, _ = model(feats, lens, chunk_size=0)
        chunked, _ = model(feats, lens, chunk_size=2)
    torch.testing.assert_close(default, full, atol=0, rtol=0)
    assert not torch.allclose(full, chunked, atol=1e-3)
    assert torch.isfinite(chunked).all()


def test_padding_does_not_change_chunked_outputs():
    torch.manual_seed(0)
    model = build_model(ModelConfig(frontend=FRONTENDS[0], encoder=conformer(left_chunks=0)),
                        20, 9).eval()
    feats = torch.randn(1, 50, 20)
    padded = torch.cat([feats, torch.randn(1, 40, 20)], dim=1)
    with torch.no_grad():
        alone, lens = model(feats, torch.tensor([50]), chunk_size=2)
        batched, _ = model(padded, torch.tensor([50]), chunk_size=2)
    n = int(lens[0])
    torch.testing.assert_close(batched[:, :n], alone[:, :n], atol=1e-5, rtol=0)


def test_lstm_chunked_with_state_equals_full_forward():
    torch.manual_seed(0)
    cfg = ModelConfig(frontend=FRONTENDS[0],
                      encoder=LSTMConfig(num_layers=2, hidden_size=16, projection_size=8))
    model = build_model(cfg, 20, 9).eval()
    feats = torch.randn(90, 20)
    with torch.no_grad():
        full, lens = model(feats[None], torch.tensor([90]))
    assert streamable_chunk_sizes(model) is None
    for chunk_size in (1, 4):
        streamed = feed_in_pieces(ChunkedCTC(model, chunk_size), feats, chunk_size)
        torch.testing.assert_close(streamed, full[0, :int(lens[0])], atol=1e-5, rtol=0)


def test_dynamic_chunk_training_draws_sizes_and_full_context_from_the_seeded_rng():
    torch.manual_seed(0)
    model = build_model(ModelConfig(frontend=FRONTENDS[0], encoder=conformer()), 20, 9)

    def draws(seed):
        torch.manual_seed(seed)
        return [model.encoder.draw_chunk_size() for _ in range(200)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    assert set(draws(3)) == {0, 2, 3, 4}
    assert 60 < draws(3).count(0) < 140  # full_context_prob 0.5


def test_gradient_filter_under_chunk_masks_matches_unfiltered_forward_and_trains():
    torch.manual_seed(0)
    filtered = build_model(ModelConfig(frontend=FRONTENDS[0],
                                       encoder=conformer(1, grad_filter=True)), 20, 9)
    plain = build_model(ModelConfig(frontend=FRONTENDS[0], encoder=conformer(1)), 20, 9)
    plain.load_state_dict(filtered.state_dict())
    filtered.eval(), plain.eval()  # no dropout, same forward
    feats, lens = torch.randn(3, 60, 20), torch.tensor([60, 45, 30])
    out_f, _ = filtered(feats, lens, chunk_size=3)
    out_p, _ = plain(feats, lens, chunk_size=3)
    torch.testing.assert_close(out_f, out_p, atol=1e-6, rtol=0)
    out_f.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in filtered.parameters())
    assert filtered.grad_filter_stats()[1] > 0  # the filters saw every sequence


def test_streaming_needs_a_streaming_model():
    offline = build_model(ModelConfig(frontend=FRONTENDS[0], encoder=ConformerConfig(
        d_model=16, num_layers=1, num_heads=2, ff_dim=32, kernel_size=3)), 20, 9)
    with pytest.raises(NotStreamableError, match="chunk.sizes"):
        ChunkedCTC(offline, 4)
    bilstm = build_model(ModelConfig(frontend=FRONTENDS[0],
                                     encoder=BiLSTMConfig(num_layers=1, hidden_size=8)), 20, 9)
    with pytest.raises(NotStreamableError, match="BiLSTM"):
        streamable_chunk_sizes(bilstm)
    with pytest.raises(ValueError, match="causal_conv"):
        ConformerConfig(chunk=ChunkConfig(sizes=(4,)))


def test_causal_depthwise_conv_never_reads_future_frames():
    from asr.nn.conformer import ConvModule

    torch.manual_seed(0)
    conv = ConvModule(8, 5, 0.0, causal=True).eval()
    centred = ConvModule(8, 5, 0.0).eval()
    centred.load_state_dict(conv.state_dict())  # the same weights either way
    x = torch.randn(1, 20, 8)
    changed = x.clone()
    changed[:, 12:] += 1.0
    no_pad = torch.zeros(1, 20, dtype=torch.bool)
    for module, same_up_to in ((conv, 12), (centred, 10)):
        a, b = module(x, no_pad)[0], module(changed, no_pad)[0]
        torch.testing.assert_close(a[:, :same_up_to], b[:, :same_up_to], atol=0, rtol=0)
        assert not torch.allclose(a[:, same_up_to], b[:, same_up_to])


@pytest.mark.parametrize("make, message", [
    (lambda: ChunkConfig(sizes=(0, 4)), "chunk.sizes must be >= 1"),
    (lambda: ChunkConfig(full_context_prob=1.5), "full_context_prob must be in"),
    (lambda: ChunkConfig(left_chunks=-2), "left_chunks must be -1"),
    (lambda: ModelConfig(frontend=DwStridingFrontendConfig(), encoder=conformer()),
     "dw_striding pads in time"),
])
def test_bad_streaming_configs_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()
