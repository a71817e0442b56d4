"""Chunk-by-chunk inference with caches equals the full forward under the chunk mask."""

import pytest
import torch

from asr.config.model_schema import (
    BiLSTMConfig,
    ChunkConfig,
    ConformerConfig,
    Conv2dFrontendConfig,
    DwStridingFrontendConfig,
    GradFilterConfig,
    LCBiLSTMConfig,
    LSTMConfig,
    ModelConfig,
    StackFrontendConfig,
)
from asr.functional.chunk_mask import chunk_attention_mask, draw_chunk_size
from asr.nn.chunked_ctc import ChunkedCTC, streamable_chunk_sizes
from asr.nn.encoder import NotStreamableError
from asr.nn.registry import build_model


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


def assert_streams_as_full_forward(model, chunk_size: int) -> None:
    """Utterances of 97, 61, 15 and 8 frames fed in random pieces give the full forward's
    log-probs under ``chunk_size`` chunks."""
    for seed, frames in enumerate([97, 61, 15, 8]):
        feats = torch.randn(frames, 20)
        with torch.no_grad():
            full, lens = model(feats[None], torch.tensor([frames]), chunk_size=chunk_size)
        streamed = feed_in_pieces(ChunkedCTC(model, chunk_size), feats, seed)
        assert streamed.shape[0] == int(lens[0]) == model.output_length(frames)
        torch.testing.assert_close(streamed, full[0, :int(lens[0])], atol=1e-5, rtol=0)


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
    assert_streams_as_full_forward(model, chunk_size)


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


def lc_bilstm(grad_filter=False, projection_size=0, sizes=(2, 3)) -> LCBiLSTMConfig:
    return LCBiLSTMConfig(num_layers=2, hidden_size=12, projection_size=projection_size,
                          grad_filter=GradFilterConfig(grad_filter), chunk=ChunkConfig(sizes))


@pytest.mark.parametrize("frontend", [FRONTENDS[0], FRONTENDS[3]], ids=["x4", "stack"])
@pytest.mark.parametrize("projection_size", [0, 8])
@pytest.mark.parametrize("chunk_size", [2, 3])
def test_lc_bilstm_chunked_with_state_equals_full_forward_with_chunks(frontend, projection_size,
                                                                      chunk_size):
    torch.manual_seed(0)
    model = build_model(ModelConfig(frontend=frontend, encoder=lc_bilstm(
        projection_size=projection_size)), 20, 9).eval()
    assert streamable_chunk_sizes(model) == (2, 3)
    assert_streams_as_full_forward(model, chunk_size)


def test_lc_bilstm_at_full_context_is_the_bilstm_and_a_chunk_never_reads_the_next():
    torch.manual_seed(0)
    lc = build_model(ModelConfig(frontend=FRONTENDS[3], encoder=lc_bilstm()), 20, 9).eval()
    bi = build_model(ModelConfig(frontend=FRONTENDS[3], encoder=BiLSTMConfig(
        num_layers=2, hidden_size=12)), 20, 9).eval()
    for fwd, bwd, both in zip(lc.encoder.forward_lstms, lc.encoder.backward_lstms,
                              bi.encoder.lstms, strict=True):
        with torch.no_grad():  # the BiLSTM's two directions get the LC layers' weights
            for name, p in fwd.named_parameters():
                getattr(both, name).copy_(p)
                getattr(both, name + "_reverse").copy_(getattr(bwd, name))
    lc.head.load_state_dict(bi.head.state_dict())
    feats, lens = torch.randn(3, 60, 20), torch.tensor([60, 41, 7])
    feats[1, 41:], feats[2, 7:] = 0.0, 0.0  # batch padding, as collate makes it
    with torch.no_grad():
        full, _ = lc(feats, lens)  # eval: full context
        want, _ = bi(feats, lens)
        chunked, out_lens = lc(feats, lens, chunk_size=3)
        changed = feats.clone()
        changed[:, 30:] += 1.0  # from encoder frame 10 on (stack 3): chunks 0-2 stay
        later, _ = lc(changed, lens, chunk_size=3)
    torch.testing.assert_close(full, want, atol=1e-5, rtol=0)
    assert not torch.allclose(full[0], chunked[0], atol=1e-3)
    torch.testing.assert_close(later[:, :9], chunked[:, :9], atol=0, rtol=0)
    assert not torch.allclose(later[0, 9], chunked[0, 9])
    alone, _ = lc(feats[1:2, :41], lens[1:2], chunk_size=3)  # padding changes nothing
    torch.testing.assert_close(chunked[1:2, :int(out_lens[1])], alone, atol=1e-5, rtol=0)
    with torch.no_grad():  # padded frames: the encoder gives zeros, the head its bias alone
        torch.testing.assert_close(chunked[1, int(out_lens[1]):],
                                   lc.head(torch.zeros(1, 20 - 14, 24))[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("full_context_prob, chunk_size", [(0.0, 3), (1.0, 0)])
def test_lc_bilstm_trains_on_the_drawn_chunk_size(full_context_prob, chunk_size):
    torch.manual_seed(0)
    cfg = LCBiLSTMConfig(num_layers=2, hidden_size=12, dropout=0.0,
                         chunk=ChunkConfig((3,), full_context_prob=full_context_prob))
    model = build_model(ModelConfig(frontend=FRONTENDS[3], encoder=cfg), 20, 9)
    feats, lens = torch.randn(2, 45, 20), torch.tensor([45, 30])
    feats[1, 30:] = 0.0
    trained = model.train()(feats, lens)[0]  # dropout 0: only the chunk draw differs
    with torch.no_grad():
        want = model.eval()(feats, lens, chunk_size=chunk_size)[0]
    torch.testing.assert_close(trained.detach(), want, atol=1e-6, rtol=0)


def test_dynamic_chunk_training_draws_sizes_and_full_context_from_the_seeded_rng():
    chunk = conformer().chunk

    def draws(seed):
        torch.manual_seed(seed)
        return [draw_chunk_size(chunk.sizes, chunk.full_context_prob) for _ in range(200)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    assert set(draws(3)) == {0, 2, 3, 4}
    assert 60 < draws(3).count(0) < 140  # full_context_prob 0.5


@pytest.mark.parametrize("make", [lambda f: conformer(1, grad_filter=f),
                                  lambda f: lc_bilstm(grad_filter=f)],
                         ids=["conformer", "lc_bilstm"])
def test_gradient_filter_under_chunks_matches_unfiltered_forward_and_trains(make):
    torch.manual_seed(0)
    filtered = build_model(ModelConfig(frontend=FRONTENDS[0], encoder=make(True)), 20, 9)
    plain = build_model(ModelConfig(frontend=FRONTENDS[0], encoder=make(False)), 20, 9)
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
    whole = build_model(ModelConfig(frontend=FRONTENDS[0], encoder=lc_bilstm(sizes=())), 20, 9)
    with pytest.raises(NotStreamableError, match="an lc_bilstm encoder.chunk.sizes"):
        streamable_chunk_sizes(whole)


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
    (lambda: LCBiLSTMConfig(chunk=ChunkConfig((4,), left_chunks=2)),
     "an lc_bilstm's forward LSTM carries all of the past"),
    (lambda: ModelConfig(frontend=DwStridingFrontendConfig(),
                         encoder=LCBiLSTMConfig(chunk=ChunkConfig((4,)))),
     "dw_striding pads in time"),
    (lambda: ModelConfig(frontend=DwStridingFrontendConfig(), encoder=conformer()),
     "dw_striding pads in time"),
])
def test_bad_streaming_configs_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()
