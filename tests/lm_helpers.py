"""Shared by the LM tests: an ARPA file as a dict model (ArpaModel: backoff scoring to check
against), built from the arrays of the one parser, the one decoding uses."""

from __future__ import annotations

from pathlib import Path

from asr.lm.arpa import ArpaModel
from asr.lm.arpa_arrays import ArpaArrays, read_arpa_arrays


def model_from_arrays(arrays: ArpaArrays) -> ArpaModel:
    """The dict model of ``arrays``, n-grams in file order (the inverse of arrays_from_model)."""
    vocab = arrays.vocab
    return ArpaModel([{tuple(vocab[i] for i in ids): (float(p), float(bo))
                       for ids, p, bo in zip(o.ids.tolist(), o.logp, o.backoff, strict=True)}
                      for o in arrays.orders])


def read_arpa_model(path: Path) -> ArpaModel:
    """The ARPA file at ``path`` as a dict model; errors are read_arpa_arrays'."""
    return model_from_arrays(read_arpa_arrays(path))
