"""Streaming recognition, the public entry point: ``StreamingRecognizer(exp_dir,
chunk_ms=320)`` with ``accept_waveform(samples) -> partial text`` and ``finalize() ->
final text``. The implementation lives in :mod:`asr.decode.streaming`."""

from asr.decode.streaming import StreamingRecognizer, make_streaming_search

__all__ = ["StreamingRecognizer", "make_streaming_search"]
