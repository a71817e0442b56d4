"""CTM files: written as Kaldi writes them, read back the same; a bad line names its place."""

import pytest

from asr.data.ctm import CtmWord, format_ctm, read_ctm, write_ctm
from asr.errors import DataError


def test_ctm_round_trip(tmp_path):
    utts = {"u1": [CtmWord("ONE", 0.1, 0.45, 0.9), CtmWord("TWO", 0.5, 0.8, 0.25)],
            "u2": [CtmWord("SIX", 0.0, 0.3)]}
    write_ctm(tmp_path / "ctm", utts)
    assert (tmp_path / "ctm").read_text().splitlines() == [
        "u1 1 0.10 0.35 ONE 0.900", "u1 1 0.50 0.30 TWO 0.250", "u2 1 0.00 0.30 SIX"]
    back = read_ctm(tmp_path / "ctm")
    assert [w.word for w in back["u1"]] == ["ONE", "TWO"]
    assert back["u1"][1].start == pytest.approx(0.5) and back["u1"][1].end == pytest.approx(0.8)
    assert back["u2"][0].conf is None and format_ctm({}) == ""


@pytest.mark.parametrize("line, why", [("u1 1 0.1 ONE", "4 fields"),
                                       ("u1 1 x 0.2 ONE", "could not convert"),
                                       ("u1 1 0.1 -0.2 ONE", "duration >= 0")])
def test_bad_line_is_an_error_naming_file_and_line(tmp_path, line, why):
    (tmp_path / "ctm").write_text(f"u0 1 0.00 0.10 ZERO\n{line}\n")
    with pytest.raises(DataError, match=rf"ctm:2: not a CTM line.*{why}"):
        read_ctm(tmp_path / "ctm")


def test_missing_ctm_is_an_error(tmp_path):
    with pytest.raises(DataError, match="CTM file not found"):
        read_ctm(tmp_path / "none.ctm")
