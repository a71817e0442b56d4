"""asr: recipe-based, Kaldi-style end-to-end speech recognition with CTC."""

__version__ = "0.1.0"
