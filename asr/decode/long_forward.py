"""The model's log-probs of utterances too long to run whole (an hour's recording): each
goes through the model in windows of input frames with context on both sides, and only the
output frames of a window's own part are kept.

A window starts on the frontend's stride, so its output frame k sees exactly the input
frames that output frame start / stride + k sees in the whole utterance: the frontend's
outputs are those of the whole; only the encoder's view is limited to the window and its
context (2 s each side by default). Memory then holds one window's activations plus the
(T', V) log-probs, whatever the length; shorter utterances run whole, in their batch.
"""

from __future__ import annotations

import torch

from asr.decode.defaults import LONG_UTTERANCE_FRAMES, WINDOW_CONTEXT_FRAMES, WINDOW_FRAMES
from asr.nn.model import CTCModel


def windowed_log_probs(model: CTCModel, x: torch.Tensor, window: int | None = None,
                       context: int | None = None) -> torch.Tensor:
    """Log-probs (T', V) of one utterance's normalized features x (T, D), on x's device,
    computed window by window (``window`` and ``context`` in input frames, default
    WINDOW_FRAMES and WINDOW_CONTEXT_FRAMES, rounded up to the frontend's stride; the
    context at least its receptive field)."""
    window = WINDOW_FRAMES if window is None else window
    context = WINDOW_CONTEXT_FRAMES if context is None else context
    field, stride = model.frontend.time_window()
    window = -(-max(window, stride) // stride) * stride
    context = -(-max(context, field) // stride) * stride
    total = model.output_length(x.shape[0])
    pieces, kept = [], 0
    for start in range(0, x.shape[0], window):
        lo, hi = max(0, start - context), min(x.shape[0], start + window + context)
        lp, n = model(x[lo:hi][None], torch.tensor([hi - lo], device=x.device))
        first = (start - lo) // stride
        want = min(window // stride, total - start // stride)
        pieces.append(lp[0, first:min(first + want, int(n[0]))])
        kept += pieces[-1].shape[0]
        if kept >= total:
            break
    out = torch.cat(pieces)
    if out.shape[0] != total:
        raise RuntimeError(f"windowed forward gave {out.shape[0]} output frames for "
                           f"{x.shape[0]} input frames, the model gives {total}")
    return out


def batch_log_probs(model: CTCModel, xs: list[torch.Tensor], device: str
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs (N, T', V) and output lengths (N,) of normalized features xs (T_i, D):
    one padded batch, except that an utterance over LONG_UTTERANCE_FRAMES goes through
    :func:`windowed_log_probs` on its own (so its result does not depend on its batch)."""
    lens = torch.tensor([x.shape[0] for x in xs], device=device)
    if max(x.shape[0] for x in xs) <= LONG_UTTERANCE_FRAMES:
        return model(torch.nn.utils.rnn.pad_sequence(xs, batch_first=True).to(device), lens)
    outs: list[torch.Tensor | None] = [None] * len(xs)
    short = [i for i, x in enumerate(xs) if x.shape[0] <= LONG_UTTERANCE_FRAMES]
    if short:
        lp, n = model(torch.nn.utils.rnn.pad_sequence([xs[i] for i in short],
                                                      batch_first=True).to(device),
                      lens[short])
        for row, i in enumerate(short):
            outs[i] = lp[row, :int(n[row])]
    for i, x in enumerate(xs):
        if outs[i] is None:
            outs[i] = windowed_log_probs(model, x.to(device))
    out_lens = torch.tensor([o.shape[0] for o in outs], device=device)
    return torch.nn.utils.rnn.pad_sequence(outs, batch_first=True), out_lens
