import pytest
import torch

from asr.config.model_schema import (
    BiLSTMConfig,
    ConformerConfig,
    Conv2dFrontendConfig,
    DwStridingFrontendConfig,
    GradFilterConfig,
    ModelConfig,
    StackFrontendConfig,
)
from asr.nn.conformer import rel_shift
from asr.nn.grad_filter import GradientFilter
from asr.nn.registry import build_model

FRONTENDS = [StackFrontendConfig(stack=3), Conv2dFrontendConfig(subsampling=4, channels=8),
             Conv2dFrontendConfig(subsampling=6, channels=8),
             Conv2dFrontendConfig(subsampling=8, channels=8),
             DwStridingFrontendConfig(channels=8, output_dim=16),
             DwStridingFrontendConfig(subsampling=4, channels=8, output_dim=16)]


def small(frontend) -> ModelConfig:
    return ModelConfig(frontend=frontend, encoder=BiLSTMConfig(num_layers=2, hidden_size=16))


@pytest.mark.parametrize("frontend", FRONTENDS, ids=lambda f: f"{f.type}")
def test_output_length_is_exact(frontend):
    model = build_model(small(frontend), 23, 7).eval()
    for t in range(1, 60):
        log_probs, lens = model(torch.randn(1, t, 23), torch.tensor([t]))
        assert lens.item() == model.output_length(t), t
        assert log_probs.shape[1] == max(1, lens.item())  # a 0-frame output is padded to 1


ENCODERS = [BiLSTMConfig(num_layers=2, hidden_size=16),
            ConformerConfig(d_model=16, num_layers=2, num_heads=2, ff_dim=32, kernel_size=5),
            ConformerConfig(d_model=16, num_layers=1, num_heads=2, ff_dim=32, kernel_size=3,
                            grad_filter=GradFilterConfig(True))]


@pytest.mark.parametrize("frontend", FRONTENDS[:2] + FRONTENDS[4:5], ids=lambda f: f"{f.type}")
@pytest.mark.parametrize("encoder", ENCODERS, ids=["bilstm", "conformer", "conformer_gf"])
def test_shapes_and_padding_invariance(frontend, encoder):
    torch.manual_seed(0)
    model = build_model(ModelConfig(frontend=frontend, encoder=encoder), 23, 7).eval()
    lens = torch.tensor([50, 31, 17])
    x = torch.randn(3, 50, 23)
    for i, n in enumerate(lens.tolist()):
        x[i, n:] = 0
    log_probs, out_lens = model(x, lens)
    assert log_probs.shape == (3, int(out_lens.max()), 7)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(log_probs.shape[:2]))
    for i, n in enumerate(lens.tolist()):
        alone, alone_len = model(x[i:i + 1, :n], lens[i:i + 1])
        assert alone_len.item() == out_lens[i].item()
        torch.testing.assert_close(alone[0], log_probs[i, : alone_len.item()],
                                   atol=1e-5, rtol=1e-5)


def test_grad_filter_forward_is_bitwise_identity():
    gf = GradientFilter(batch_dim=0, threshold=10.0)
    x = torch.randn(4, 5, 3, requires_grad=True)
    w = torch.randn(3, 3, requires_grad=True)
    y, w2 = gf(x, w)
    assert torch.equal(y, x) and torch.equal(w2, w)


def test_grad_filter_scales_an_exploding_sequence_as_the_formula_says():
    gf = GradientFilter(batch_dim=0, threshold=10.0)
    x = torch.randn(5, 4, 3, requires_grad=True)
    w = torch.randn(3, requires_grad=True)
    upstream = torch.ones(5, 4, 3)
    upstream[2] *= 1000.0  # one exploding sequence
    w_upstream = torch.full((3,), 2.0)
    y, w2 = gf(x, w)
    ((y * upstream).sum() + (w2 * w_upstream).sum()).backward()
    norm = torch.ones(5)  # per-sequence RMS of the upstream gradient
    norm[2] = 1000.0
    cutoff = norm.median() * 10.0
    inv_mask = (cutoff + norm) / cutoff
    torch.testing.assert_close(x.grad, upstream / inv_mask[:, None, None])
    torch.testing.assert_close(w.grad, w_upstream / inv_mask.mean())
    assert gf.pop_stats() == (1, 5) and gf.pop_stats() == (0, 0)
    assert x.grad[2].abs().max() < 1000.0 / 100  # damped ~100x: 1000 / (1 + 1000/10)
    torch.testing.assert_close(x.grad[0], upstream[0] / 1.1)  # median ones: 1 / (1 + 1/10)


def test_grad_filter_gradcheck_float64():
    """gradcheck of the filter's backward map g -> filtered(g), which is smooth in g away
    from median ties; and of the forward (an identity, so the mask must be ~1 there)."""
    torch.manual_seed(0)
    gf = GradientFilter(batch_dim=1, threshold=2.0)
    x = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, dtype=torch.float64, requires_grad=True)
    y, w2 = gf(x, w)

    def filtered(g: torch.Tensor, gw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.autograd.grad((y, w2), (x, w), (g, gw), create_graph=True)

    g = torch.randn(3, 4, 2, dtype=torch.float64)
    g[:, 2] *= 30.0  # one sequence far above the median: the filter is active
    gw = torch.randn(2, dtype=torch.float64)
    assert torch.autograd.gradcheck(filtered, (g.requires_grad_(), gw.requires_grad_()))
    assert torch.autograd.gradcheck(GradientFilter(1, 1e12), (x, w))


def test_rel_shift_picks_distance_i_minus_j():
    t = 5
    x = torch.randn(2, 3, t, 2 * t - 1)  # last axis: distances t-1 ... -(t-1)
    y = rel_shift(x)
    for i in range(t):
        for j in range(t):
            assert torch.equal(y[:, :, i, j], x[:, :, i, (t - 1) - (i - j)])


@pytest.mark.parametrize("name", ["conformer_ctc_30m", "bilstm_ctc_30m", "conformer_ctc",
                                  "bilstm_ctc"])
def test_shipped_model_sizes(name):
    """The LibriSpeech-scale base configs are ~30M parameters (80-dim fbank, BPE 500)."""
    from pathlib import Path

    from asr.config import load_config
    from asr.config.schema import ExperimentConfig

    cfg = load_config(ExperimentConfig, Path(__file__).parents[2] / "conf" / f"{name}.yaml")
    n = build_model(cfg.model, 80, 500).num_params()
    if name.endswith("30m"):
        assert 25e6 <= n <= 35e6, n
    else:
        assert n <= 6e6, n


def test_registry_names_match_config_types():
    import typing

    from asr.nn.registry import ENCODERS, FRONTENDS

    for registry, field in ((FRONTENDS, "frontend"), (ENCODERS, "encoder")):
        variants = typing.get_args(typing.get_type_hints(ModelConfig)[field])
        names = {typing.get_args(typing.get_type_hints(v)["type"])[0] for v in variants}
        assert names == set(registry)


def reference_attention(attn, x, pos_emb, pad_mask):
    """The explicit formula RelPositionAttention computed before it called SDPA:
    softmax(((q + u) k^T + rel_shift((q + v) p^T)) / sqrt(d_k), keys masked) v."""
    import math

    n, t, _ = x.shape
    q, k, v = attn.qkv(x).view(n, t, 3, attn.heads, attn.d_k).permute(2, 0, 3, 1, 4)
    p = attn.pos(pos_emb).view(-1, attn.heads, attn.d_k).transpose(0, 1)
    content = (q + attn.bias_u[None, :, None]) @ k.transpose(-1, -2)
    position = rel_shift((q + attn.bias_v[None, :, None]) @ p.transpose(-1, -2))
    scores = ((content + position) / math.sqrt(attn.d_k)).masked_fill(
        pad_mask[:, None, None, :], float("-inf"))
    return attn.out((torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(n, t, -1))


def test_sdpa_attention_equals_the_explicit_formula():
    from asr.functional.lengths import make_pad_mask
    from asr.nn.conformer import RelPositionAttention, relative_positions

    torch.manual_seed(0)
    attn = RelPositionAttention(32, 4, dropout=0.1).eval()
    with torch.no_grad():  # nonzero position biases, so both terms matter
        attn.bias_u.normal_()
        attn.bias_v.normal_()
    lens = torch.tensor([23, 9, 1])
    x = torch.randn(3, 23, 32, requires_grad=True)
    pos_emb, pad_mask = relative_positions(23, 32, x.device), make_pad_mask(lens, 23)
    got = attn(x, pos_emb, pad_mask)
    want = reference_attention(attn, x, pos_emb, pad_mask)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    g_got, = torch.autograd.grad(got.sum(), x)
    g_want, = torch.autograd.grad(want.sum(), x)
    torch.testing.assert_close(g_got, g_want, atol=1e-5, rtol=1e-5)


def test_dw_striding_frontend_shapes_and_lengths():
    """ceil(T / 8) frames of output_dim, the frequency axis halved (rounded up) per stage."""
    from asr.nn.frontend import DwStridingFrontend

    fe = DwStridingFrontend(80, DwStridingFrontendConfig(channels=12, output_dim=24))
    assert fe.out.in_features == 12 * 10  # 80 -> 40 -> 20 -> 10 frequency bins
    lens = torch.tensor([1, 8, 9, 64, 65])
    y, out_lens = fe(torch.randn(5, 65, 80), lens)
    assert out_lens.tolist() == [1, 1, 2, 8, 9] == [fe.output_length(n) for n in lens.tolist()]
    assert y.shape == (5, 9, 24)
    depthwise = [m for m in fe.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 2 and all(m.groups == 12 for m in depthwise)


def test_dw_striding_frontend_trains_under_the_gradient_filter():
    """Gradients reach every frontend weight through the Conformer's GradientFilters, and
    the filters damp an utterance whose gradient explodes."""
    torch.manual_seed(0)
    encoder = ConformerConfig(d_model=16, num_layers=2, num_heads=2, ff_dim=32, kernel_size=3,
                              grad_filter=GradFilterConfig(True, threshold=2.0))
    model = build_model(ModelConfig(frontend=DwStridingFrontendConfig(channels=8,
                                                                      output_dim=16),
                                    encoder=encoder), 23, 7).train()
    lens = torch.tensor([40, 33, 25, 40])
    log_probs, out_lens = model(torch.randn(4, 40, 23), lens)
    weight = torch.ones(4, 1, 1)
    weight[1] = 1e4  # one utterance with an exploding gradient
    (log_probs * weight).sum().backward()
    for name, p in model.frontend.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    scaled, seen = model.grad_filter_stats()
    assert seen == 2 * 4 and scaled >= 2  # the exploding utterance, in both layers
