"""Every kind of broken feature input is a DataError naming the utterance and ark:offset."""

import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import torch

from asr.data.ark import ArkReader, read_matrix, write_ark_scp
from asr.data.collate import collate
from asr.data.dataset import FeatsDataset, Utterance
from asr.errors import DataError


@pytest.fixture
def ark(tmp_path):
    """An ark with good, NaN, inf, vector and zero-frame entries; returns its scp dict."""
    items = [("good", np.ones((5, 3), np.float32)),
             ("nan", np.full((3, 2), np.nan, np.float32)),
             ("inf", np.array([[1.0, np.inf]], np.float32)),
             ("vec", np.ones(4, np.float32)),
             ("empty", np.zeros((0, 3), np.float32))]
    return write_ark_scp(tmp_path / "f.ark", tmp_path / "f.scp", items)


@pytest.mark.parametrize("utt,why", [("nan", "NaN or inf"), ("inf", "NaN or inf"),
                                     ("vec", r"shape \(4,\)"), ("empty", r"shape \(0, 3\)")])
def test_bad_matrices_name_utterance_and_offset(ark, utt, why):
    with pytest.raises(DataError, match=rf"utterance '{utt}': features at '.*f\.ark:\d+'.*{why}"):
        read_matrix(utt, ark[utt])
    assert read_matrix("good", ark["good"]).shape == (5, 3)


def test_offset_past_end_of_file(ark, tmp_path):
    rx = f"{tmp_path / 'f.ark'}:999999"
    with pytest.raises(DataError, match=r"utterance 'x': .*f\.ark:999999'.*past the end"):
        read_matrix("x", rx)


def test_truncated_ark(tmp_path):
    scp = write_ark_scp(tmp_path / "t.ark", tmp_path / "t.scp",
                        [("a", np.ones((50, 40), np.float32))])
    data = (tmp_path / "t.ark").read_bytes()
    (tmp_path / "t.ark").write_bytes(data[: len(data) // 2])  # killed writer, full disk
    with pytest.raises(DataError, match=r"utterance 'a': features at '.*t\.ark:\d+'.*truncated"):
        read_matrix("a", scp["a"])
    reader = ArkReader()  # with a cached handle too
    with pytest.raises(DataError, match="utterance 'a'"):
        reader("a", scp["a"])


def test_corrupt_ark_header(tmp_path):
    scp = write_ark_scp(tmp_path / "c.ark", tmp_path / "c.scp",
                        [("a", np.ones((5, 4), np.float32))])
    offset = int(scp["a"].rsplit(":", 1)[1])
    data = bytearray((tmp_path / "c.ark").read_bytes())
    data[offset + 3:offset + 5] = b"XX"  # the "FM" type token
    (tmp_path / "c.ark").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"utterance 'a': features at '.*c\.ark:\d+'"):
        read_matrix("a", scp["a"])


def test_skip_bad_counts_and_drops(ark):
    utts = [Utterance(u, ark[u], 5, "", (1,)) for u in ("good", "nan", "vec")]
    strict = FeatsDataset(utts, lambda x, u: x)
    with pytest.raises(DataError, match="utterance 'nan'"):
        strict[1]
    lenient = FeatsDataset(utts, lambda x, u: x, skip_bad=True)
    batch = collate([lenient[i] for i in range(3)])
    assert batch.utt_ids == ["good"] and batch.skipped == ["nan", "vec"]
    assert torch.equal(batch.feats[0], torch.ones(5, 3))
    with pytest.raises(DataError, match="every utterance of a batch of 2 was unreadable"):
        collate([lenient[1], lenient[2]])


def test_refuses_python_optimize(ark, tmp_path):
    """kaldiio reads inside asserts: under -O both the CLI and the Dataset refuse to run."""
    code = ("import sys; from asr.data.ark import read_matrix\n"
            "from asr.errors import AsrError\n"
            f"try:\n    read_matrix('good', {ark['good']!r})\n"
            "except AsrError as e:\n    print('refused:', e); sys.exit(3)\n")
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True)
    assert out.returncode == 3 and "python -O" in out.stdout
    out = subprocess.run([sys.executable, "-O", "-m", "asr", "validate-data", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "refusing to run under 'python -O'" in out.stderr
    assert "Traceback" not in out.stderr


def test_dataloader_workers_read_with_their_own_handles(ark):
    from torch.utils.data import DataLoader

    utts = [Utterance("good", ark["good"], 5, "", (1,))] * 6
    ds = FeatsDataset(utts, lambda x, u: x)
    ds[0]  # the parent opens a handle first: workers must not reuse its file position
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate)
    for batch in loader:
        assert torch.equal(batch.feats, torch.ones(2, 5, 3))
    assert kaldiio.load_mat(ark["good"]).shape == (5, 3)
