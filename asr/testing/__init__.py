"""Fixtures shared by tests and users: synthetic audio and tiny Kaldi data dirs."""

from asr.testing.fixtures import make_data_dir, make_exp_dir, make_train_corpus, synth_utterance

__all__ = ["make_data_dir", "make_exp_dir", "make_train_corpus", "synth_utterance"]
