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
# an utterance longer than this many feature frames (60 s of 10 ms frames) goes through
# the model in windows of WINDOW_FRAMES with WINDOW_CONTEXT_FRAMES on each side, so its
# memory does not grow with its length (attention's quadratically): asr.decode.long_forward
LONG_UTTERANCE_FRAMES = 6000
WINDOW_FRAMES = 3000
WINDOW_CONTEXT_FRAMES = 200
