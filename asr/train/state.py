"""TrainState: everything that moves during training, apart from the frozen config."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


@dataclass
class TrainState:
    epoch: int = 1  # the epoch in progress (1-based)
    batches_done: int = 0  # batches of ``epoch`` this rank has trained on (same on all ranks)
    step: int = 0  # optimizer steps taken
    best_dev_loss: float = math.inf
    best_epoch: int = 0
    zeroed_utts: int = 0  # utterances whose CTC loss was infinite and zeroed
    skipped_utts: int = 0  # unreadable utterances left out of batches (data.skip_bad)
    skipped_steps: int = 0  # steps skipped for a non-finite loss or gradient norm
    consecutive_skips: int = 0  # skipped steps since the last step taken

    def state_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Strict: every field must be present and nothing else (as lhotse's samplers do)."""
        state = dict(state)
        for f in dataclasses.fields(self):
            if f.name not in state:
                raise KeyError(f"TrainState.load_state_dict: missing key '{f.name}'")
            setattr(self, f.name, state.pop(f.name))
        if state:
            raise KeyError(f"TrainState.load_state_dict: unexpected keys {sorted(state)}")
