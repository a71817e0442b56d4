"""Defaults that decoding's functions and the commands share, named once."""

from __future__ import annotations

# streaming chunk: 8 encoder frames of 40 ms (x4 subsampling of 10 ms frames)
DEFAULT_CHUNK_MS = 320.0
# padded feature frames per decoding batch (batch size x longest utterance)
DEFAULT_MAX_FRAMES = 20000
# reward per hotword token (log-prob units) where the hotword file gives none: sherpa-onnx's
DEFAULT_HOTWORD_WEIGHT = 1.5
# 'asr align' flags a transcript whose fit score (per frame) is under this: from the
# digits recipe's dev set with its transcripts swapped (docs/decoding.md)
DEFAULT_FLAG_THRESHOLD = -0.5
