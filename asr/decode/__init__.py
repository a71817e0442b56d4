"""Decoding with an experiment: data dirs in length-sorted batches, files, export."""
