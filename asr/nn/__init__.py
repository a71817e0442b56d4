"""Neural network modules: frontends, encoders, CTC head, GradientFilter, the registry."""

from asr.nn.grad_filter import GradientFilter

__all__ = ["GradientFilter"]
