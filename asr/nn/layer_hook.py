"""The type of the hook every encoder calls after each of its layers."""

from __future__ import annotations

from collections.abc import Callable

import torch

# after_layer(k, x) -> x: called with layer k's output (N, T, D), k 1-based, and returning
# what layer k + 1 reads; CTCModel's intermediate CTC and self-conditioning hook in here
LayerHook = Callable[[int, torch.Tensor], torch.Tensor]
