import pytest
import torch

from asr.config.schema import (
    BiLSTMConfig,
    ConformerConfig,
    Conv2dFrontendConfig,
    GradFilterConfig,
    ModelConfig,
    StackFrontendConfig,
)
from asr.nn.conformer import rel_shift
from asr.nn.grad_filter import GradientFilter
from asr.nn.registry import build_model

FRONTENDS = [StackFrontendConfig(stack=3), Conv2dFrontendConfig(subsampling=4, channels=8),
             Conv2dFrontendConfig(subsampling=6, channels=8),
             Conv2dFrontendConfig(subsampling=8, channels=8)]


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


@pytest.mark.parametrize("frontend", FRONTENDS[:2], ids=lambda f: f"{f.type}")
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

    cfg = load_config(ExperimentConfig, Path(__file__).parents[1] / "conf" / f"{name}.yaml")
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
