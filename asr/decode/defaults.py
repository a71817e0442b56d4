"""Defaults that decoding's functions and the commands share, named once."""

from __future__ import annotations

# streaming chunk: 8 encoder frames of 40 ms (x4 subsampling of 10 ms frames)
DEFAULT_CHUNK_MS = 320.0
# padded feature frames per decoding batch (batch size x longest utterance)
DEFAULT_MAX_FRAMES = 20000
