"""Chunk-by-chunk inference of a CTC model on one utterance whose features arrive in
pieces: the frontend's leftover frames, the encoder's frames waiting for a full chunk and
the encoder's caches are carried between calls.

The output equals ``model(feats, lengths, chunk_size=C)`` on the whole utterance (full
context for an LSTM), up to float rounding: the frontend's valid (unpadded) convolutions
are run on buffers that start on its stride grid and hold the whole receptive field of
every output frame they produce, and the encoder's caches hold exactly what the chunk
mask lets a chunk see.
"""

from __future__ import annotations

import torch

from asr.nn.model import CTCModel


def streamable_chunk_sizes(model: CTCModel) -> tuple[int, ...] | None:
    """The chunk sizes (encoder frames) the model was trained for; None: any size (LSTM).
    Raises NotStreamableError (:mod:`asr.nn.encoder`) for a model that cannot stream."""
    model.frontend.time_window()
    return model.encoder.streaming_chunk_sizes()


class ChunkedCTC:
    """Feeds one utterance's feature frames, in pieces of any size, through ``model``.

    :meth:`accept` returns the log-probs (T', V) of the encoder frames that became final
    (whole chunks); :meth:`finalize` returns the rest (the last, partial chunk). Their
    concatenation is the full forward's (1, T', V) output under the chunk mask.
    """

    def __init__(self, model: CTCModel, chunk_size: int):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        streamable_chunk_sizes(model)
        self.model = model.eval()
        self.chunk_size = chunk_size
        self.field, self.stride = model.frontend.time_window()
        self.device = next(model.parameters()).device
        self.reset()

    def reset(self) -> None:
        """Forget the utterance: the next frames start a new one."""
        self.feats: torch.Tensor | None = None  # (B, D) input frames not yet consumed
        self.frames: torch.Tensor | None = None  # (1, F, D') frontend output, < one chunk
        self.state = self.model.encoder.init_state(self.device)

    @torch.inference_mode()
    def accept(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (T, D), the next frames -> log-probs (T', V) of the chunks now complete."""
        feats = feats.to(self.device)
        self.feats = feats if self.feats is None else torch.cat([self.feats, feats])
        b = self.feats.shape[0]
        n = (b - self.field) // self.stride + 1 if b >= self.field else 0
        if n:
            used = self.stride * (n - 1) + self.field
            y, _ = self.model.frontend(self.feats[None, :used], torch.tensor([used]))
            self.feats = self.feats[self.stride * n:]
            self._queue(y[:, :n])
        return self._run_chunks(final=False)

    @torch.inference_mode()
    def finalize(self) -> torch.Tensor:
        """The log-probs (T', V) of the frames still held; the utterance ends here."""
        if self.feats is not None and self.feats.shape[0]:
            b = self.feats.shape[0]
            y, lens = self.model.frontend(self.feats[None], torch.tensor([b]))
            self._queue(y[:, :int(lens[0])])
        out = self._run_chunks(final=True)
        self.reset()
        return out

    def _queue(self, y: torch.Tensor) -> None:
        self.frames = y if self.frames is None else torch.cat([self.frames, y], dim=1)

    def _run_chunks(self, final: bool) -> torch.Tensor:
        outs = []
        while self.frames is not None and (self.frames.shape[1] >= self.chunk_size
                                           or final and self.frames.shape[1]):
            chunk = self.frames[:, :self.chunk_size]
            self.frames = self.frames[:, chunk.shape[1]:]
            x, self.state = self.model.encoder.forward_chunk(chunk, self.state, self.chunk_size)
            outs.append(self.model.head(x)[0])
        if not outs:
            return torch.zeros(0, self.model.head.proj.out_features, device=self.device)
        return torch.cat(outs)
