"""A decode dir's outputs: the hypotheses, and their scores when the data dir has text."""

from __future__ import annotations

import logging
from pathlib import Path

from asr.atomic_io import atomic_write_text
from asr.data.kaldi_dir import read_kv, write_kv
from asr.scoring import score

log = logging.getLogger(__name__)


def write_decode_dir(out: Path, data_dir: Path, hyps: dict[str, str]) -> str | None:
    """OUT/hyp; when DATA/text exists also OUT/wer, whose %WER line is returned (None
    without text). Without DATA/text a ``wer`` of an earlier run is removed: every file
    of a decode dir comes from one run (OUT/decode.log says which)."""
    out.mkdir(parents=True, exist_ok=True)
    write_kv(out / "hyp", hyps)
    text = data_dir / "text"
    if text.is_file():
        report = score(read_kv(text, what="transcript"), hyps)
        atomic_write_text(out / "wer", report.render())
        return report.summary()
    if (out / "wer").exists():
        (out / "wer").unlink()
        log.info("%s has no text: removed %s of an earlier decode", data_dir, out / "wer")
    return None
