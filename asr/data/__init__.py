"""Data side: Kaldi data dirs, features, CMVN, tokenizers, datasets and samplers."""
