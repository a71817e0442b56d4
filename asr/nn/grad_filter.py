"""GradientFilter (icefall's idea): an identity in forward that, in backward, damps the
gradient of sequences whose gradient norm is far above the batch median.

One bad utterance (a misaligned transcript, a burst of noise) can produce a gradient
orders of magnitude larger than the rest; global clipping then shrinks the whole batch's
update. Filtering per sequence keeps the good sequences' gradients intact.
"""

from __future__ import annotations

import torch
from torch import nn

_EPS = 1e-20  # only guards the divisions; norms of real gradients are far above it


class _GradientFilterFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, batch_dim: int, threshold: float,
                stats: list[int], *params: torch.Tensor):
        ctx.batch_dim = batch_dim
        ctx.threshold = threshold
        ctx.stats = stats
        return (x, *params)

    @staticmethod
    def backward(ctx, x_grad: torch.Tensor, *param_grads: torch.Tensor):
        dims = [d for d in range(x_grad.ndim) if d != ctx.batch_dim]
        # per-sequence RMS of the gradient, shape broadcastable to x_grad
        norm = x_grad.pow(2).mean(dim=dims, keepdim=True).sqrt()
        # torch.median takes the lower of the two middle values for an even count
        cutoff = norm.median() * ctx.threshold
        # Where the median norm is 0 (most sequences got no gradient) the formula would
        # divide by eps and blow parameter gradients up by 1e20: leave those unscaled.
        inv_mask = torch.where(cutoff > 0, (cutoff + norm) / (cutoff + _EPS),
                               torch.ones_like(norm))
        # a device tensor, summed without reading it: reading it here would make the host
        # wait for the backward pass in every step (read once per log line, pop_stats)
        ctx.stats[0] = ctx.stats[0] + (inv_mask + _EPS > 2.0).sum()
        ctx.stats[1] += inv_mask.numel()
        param_scale = 1.0 / (inv_mask.mean() + _EPS)
        scaled = [None if g is None else g * param_scale for g in param_grads]
        return (x_grad / (inv_mask + _EPS), None, None, None, *scaled)


class GradientFilter(nn.Module):
    """``x, *params = gf(x, *params)``: identity forward, per-sequence gradient damping.

    Backward (icefall's published semantics): norm = RMS of x's gradient per sequence
    along ``batch_dim``; cutoff = median(norm) * threshold; inv_mask = (cutoff + norm) /
    cutoff; x's gradient is divided by inv_mask and each param's by mean(inv_mask).
    One guard beyond icefall: a zero median (no gradient in most sequences) scales nothing.
    :meth:`pop_stats` returns how many sequences were scaled down by more than 2x, and how
    many were seen, since its last call.
    """

    def __init__(self, batch_dim: int = 0, threshold: float = 10.0):
        super().__init__()
        if threshold <= 0:
            raise ValueError(f"GradientFilter threshold must be positive, got {threshold}")
        self.batch_dim = batch_dim
        self.threshold = threshold
        # [sequences scaled > 2x (an int, or a device tensor once a backward ran),
        #  sequences seen (an int)]
        self._stats: list = [0, 0]

    def forward(self, x: torch.Tensor, *params: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if not torch.is_grad_enabled() or not (x.requires_grad
                                                or any(p.requires_grad for p in params)):
            return (x, *params)
        return _GradientFilterFunction.apply(x, self.batch_dim, self.threshold, self._stats,
                                             *params)

    def pop_stats(self) -> tuple[int, int]:
        """(sequences scaled by more than 2x, sequences seen) since the last call."""
        out = (int(self._stats[0]), self._stats[1])
        self._stats[0] = self._stats[1] = 0
        return out

    def extra_repr(self) -> str:
        return f"batch_dim={self.batch_dim}, threshold={self.threshold}"
