"""Bidirectional LSTM encoder with a GradientFilter on every layer's input and weights."""

from __future__ import annotations

from asr.config.model_schema import BiLSTMConfig
from asr.nn.lstm import LSTMStack


class BiLSTMEncoder(LSTMStack):
    """(N, T, D) -> (N, T, 2 * (projection_size or hidden_size)); lengths unchanged.

    The :class:`asr.nn.lstm.LSTMStack` with both directions in every layer.
    """

    def __init__(self, input_dim: int, cfg: BiLSTMConfig):
        super().__init__(input_dim, cfg, bidirectional=True)
