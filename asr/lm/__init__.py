"""n-gram language models: ARPA files, Witten-Bell training, shallow fusion tables."""
