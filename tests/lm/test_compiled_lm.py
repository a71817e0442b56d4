"""Compiled n-gram LMs: an in-memory model's arrays and the file's build the same tables,
the compiled file round-trips them (and the search), a changed ARPA file rebuilds its
cache, and a truncated, corrupted or crafted file is a clear error, never unpickled."""

from __future__ import annotations

import json
import os
import pickle
import re

import numpy as np
import pytest
import torch
from lm_helpers import read_arpa_model

from asr.errors import DataError
from asr.functional.ctc_search import ctc_prefix_beam_search
from asr.functional.fusion_table import NgramTables
from asr.lm.arpa import write_arpa
from asr.lm.arpa_arrays import arrays_from_model, read_arpa_arrays
from asr.lm.compiled_lm import (
    MAGIC,
    compile_arpa,
    default_compiled_path,
    load_lm,
    read_compiled,
    write_compiled,
)
from asr.lm.fusion import build_fusion, fusion_tables
from asr.lm.ngram import train_witten_bell
from asr.lm.ngram_tables import build_ngram_tables

TOKENS = ["<blk>", "<unk>", "\u2581", "a", "b", "c"]
MARKS = {"word_start": "\u2581", "unk": "<unk>"}
SENTS = [s.split() for s in ["ab ba c", "ab ab", "c ba ab", "ca", "ab c ba ab"]]


def same_tables(a: NgramTables, b: NgramTables) -> None:
    for name in NgramTables.array_names():
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in NgramTables.scalar_names():
        assert getattr(a, name) == getattr(b, name), name


@pytest.fixture
def arpa(tmp_path):
    path = tmp_path / "lm.arpa"
    write_arpa(path, train_witten_bell(SENTS, 3))
    return path


def log_probs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(2 * torch.randn(3, 30, len(TOKENS), generator=g), -1), \
        torch.tensor([30, 21, 9])


def test_model_arrays_and_file_arrays_build_the_same_tables(arpa):
    """build_fusion's path (an in-memory model through arrays_from_model) and decoding's."""
    same_tables(build_ngram_tables(read_arpa_arrays(arpa)),
                build_ngram_tables(arrays_from_model(read_arpa_model(arpa))))


@pytest.mark.parametrize("level", ["word", "token"])
def test_compiled_file_round_trips_tables_and_search(arpa, tmp_path, level):
    built = compile_arpa(arpa, tmp_path / "x.asrlm")
    loaded, header = read_compiled(tmp_path / "x.asrlm")
    same_tables(built, loaded)
    assert header["source"]["size"] == arpa.stat().st_size
    lp, lens = log_probs(0)
    fused = [fusion_tables(t, TOKENS, 0.8, 0.3, level, **MARKS) for t in (built, loaded)]
    reference = build_fusion(read_arpa_model(arpa), TOKENS, 0.8, 0.3, level, **MARKS)
    want = ctc_prefix_beam_search(lp, lens, beam_size=8, lm=reference)
    assert all(ctc_prefix_beam_search(lp, lens, beam_size=8, lm=f) == want for f in fused)
    assert want != ctc_prefix_beam_search(lp, lens, beam_size=8)  # the LM changes something


def test_arpa_is_compiled_once_then_mapped_and_rebuilt_when_it_changes(arpa):
    cache = default_compiled_path(arpa)
    first = load_lm(arpa)
    assert cache.is_file()
    stamp = cache.stat().st_mtime_ns
    same_tables(load_lm(arpa), first)
    os.utime(arpa, ns=(arpa.stat().st_atime_ns, arpa.stat().st_mtime_ns + 10**9))
    load_lm(arpa)  # touched, same bytes: the SHA-256 says fresh, nothing is rewritten
    assert cache.stat().st_mtime_ns == stamp
    write_arpa(arpa, train_witten_bell(SENTS[:2], 2))
    changed = load_lm(arpa)
    assert changed.max_order == 2 and cache.stat().st_mtime_ns != stamp
    same_tables(changed, build_ngram_tables(read_arpa_arrays(arpa)))
    same_tables(read_compiled(cache)[0], changed)


def test_corrupted_cache_beside_the_arpa_is_rebuilt(arpa, caplog):
    cache = default_compiled_path(arpa)
    load_lm(arpa)
    cache.write_bytes(cache.read_bytes()[:200])
    same_tables(load_lm(arpa), build_ngram_tables(read_arpa_arrays(arpa)))
    assert "truncated compiled LM" in caplog.text
    read_compiled(cache)  # whole again


def corrupt(path, offset_from_end: int) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def test_truncated_corrupted_and_foreign_files_are_clear_errors(arpa, tmp_path):
    good = tmp_path / "lm.asrlm"
    compile_arpa(arpa, good)
    data = good.read_bytes()
    cases = {
        "truncated": (data[:-40], "truncated compiled LM (array"),
        "header_cut": (data[:30], "truncated compiled LM (header"),
        "empty": (b"", "cannot map the compiled LM"),
        "foreign": (b"\x93NUMPY" + data[6:], "not a compiled LM"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=re.escape(message)) as e:
            read_compiled(tmp_path / name)
        assert str(tmp_path / name) in str(e.value)
    corrupt(good, 70)  # a byte inside the last array
    with pytest.raises(DataError, match=f"{re.escape(str(good))}: corrupted .* checksum"):
        load_lm(good)  # given directly, a compiled file is never silently rebuilt


def rewrite_header(path, edit) -> None:
    """Rewrite the JSON header of a compiled file, keeping its length (padded with spaces)."""
    data = bytearray(path.read_bytes())
    n = int.from_bytes(data[8:16], "little")
    header = json.loads(data[16:16 + n])
    edit(header)
    text = json.dumps(header, separators=(",", ":")).encode()  # shorter than the original
    assert len(text) <= n
    data[16:16 + n] = text.ljust(n)
    path.write_bytes(bytes(data))


def test_crafted_headers_are_refused_and_nothing_is_unpickled(arpa, tmp_path, monkeypatch):
    def no_pickle(*args, **kwargs):
        raise AssertionError("a compiled LM must never be unpickled")

    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "Unpickler", no_pickle)
    good = tmp_path / "good.asrlm"
    compile_arpa(arpa, good)
    assert good.read_bytes().startswith(MAGIC)
    read_compiled(good)

    def object_dtype(h):
        h["arrays"]["logp"]["dtype"] = "|O"

    def bad_version(h):
        h["version"] = 99

    def out_of_range(h):
        h["scalars"]["bos_state"] = 10**6

    for edit, message in ((object_dtype, "bad entry for array 'logp'"),
                          (bad_version, "format version 99"),
                          (out_of_range, "inconsistent scalars")):
        path = tmp_path / f"{edit.__name__}.asrlm"
        path.write_bytes(good.read_bytes())
        rewrite_header(path, edit)
        with pytest.raises(DataError, match=re.escape(message)):
            read_compiled(path, verify=False)


def test_out_of_range_links_are_refused_even_with_matching_checksums(arpa, tmp_path):
    tables = build_ngram_tables(read_arpa_arrays(arpa))
    tables.suffix[3] = tables.num_nodes + 5  # would send the search outside its arrays
    write_compiled(tmp_path / "bad.asrlm", tables)
    with pytest.raises(DataError, match="inconsistent suffix links"):
        read_compiled(tmp_path / "bad.asrlm")


def test_arpa_that_is_no_backoff_model_names_the_problem(tmp_path):
    head = "\\data\\\nngram 1=3\nngram 2={n}\n\n\\1-grams:\n-1\t</s>\n-1\ta\t-0.5\n-1\tb\n" \
           "\n\\2-grams:\n"
    (tmp_path / "dup.arpa").write_text(head.format(n=2) + "-0.3\ta b\n-0.2\ta b\n\\end\\\n")
    with pytest.raises(DataError, match="1 2-gram.*listed twice"):
        build_ngram_tables(read_arpa_arrays(tmp_path / "dup.arpa"))
    (tmp_path / "oov.arpa").write_text(head.format(n=1) + "-0.3\ta zebra\n\\end\\\n")
    with pytest.raises(DataError, match=r"oov.arpa:11: word 'zebra' is not a unigram"):
        read_arpa_arrays(tmp_path / "oov.arpa")


def test_compile_lm_command_writes_beside_the_arpa_or_to_out(arpa, tmp_path):
    from asr.cli import main

    assert main(["compile-lm", str(arpa)]) == 0
    assert main(["compile-lm", str(arpa), str(tmp_path / "elsewhere.asrlm")]) == 0
    want = build_ngram_tables(read_arpa_arrays(arpa))
    for path in (default_compiled_path(arpa), tmp_path / "elsewhere.asrlm"):
        same_tables(read_compiled(path)[0], want)
