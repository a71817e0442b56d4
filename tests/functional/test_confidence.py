"""Frame confidence measures: 1 for a certain frame, 0 for a uniform one, higher for a
sharper posterior, in [0, 1] for any input."""

import pytest
import torch

from asr.functional.confidence import MEASURES, frame_confidence


@pytest.mark.parametrize("measure", MEASURES)
def test_certain_is_one_uniform_is_zero_sharper_is_higher(measure):
    v = 30
    one_hot = torch.full((1, v), -1e4)
    one_hot[0, 3] = 0.0
    uniform = torch.full((1, v), 1.0 / v).log()
    logits = torch.randn(1, v, generator=torch.Generator().manual_seed(0))
    sharp = torch.cat([(logits * s).log_softmax(-1) for s in (0.5, 1.0, 2.0, 4.0)])
    assert frame_confidence(one_hot.log_softmax(-1), measure).item() == pytest.approx(1.0)
    if measure != "prob":
        assert frame_confidence(uniform, measure).item() == pytest.approx(0.0, abs=1e-6)
    c = frame_confidence(sharp, measure)
    assert torch.all(c[1:] > c[:-1]), c
    rand = torch.randn(50, v).mul(5).log_softmax(-1)
    c = frame_confidence(rand, measure)
    assert c.shape == (50,) and torch.all((c >= 0) & (c <= 1))


def test_unknown_measure_is_an_error():
    with pytest.raises(ValueError, match="unknown confidence measure"):
        frame_confidence(torch.zeros(2, 3), "bogus")
