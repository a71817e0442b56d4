"""A decode dir's outputs: the hypotheses, their scores when the data dir has text, and on
request a CTM (word times and confidences) and a JSON line per utterance."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from asr.atomic_io import atomic_write_text
from asr.data.ctm import write_ctm
from asr.data.kaldi_dir import read_kv, write_kv
from asr.data.tokenizer import Tokenizer
from asr.decode.hypothesis import Hypothesis
from asr.scoring import score

log = logging.getLogger(__name__)


def write_decode_dir(out: Path, data_dir: Path, hyps: dict[str, str],
                     refs: dict[str, str] | None = None) -> str | None:
    """OUT/hyp; when DATA/text exists (or ``refs`` are given: a shard dir's transcripts)
    also OUT/wer, whose %WER line is returned (None without text). Without text a ``wer``
    of an earlier run is removed: every file of a decode dir comes from one run
    (OUT/decode.log says which)."""
    out.mkdir(parents=True, exist_ok=True)
    write_kv(out / "hyp", hyps)
    text = data_dir / "text"
    if refs is not None or text.is_file():
        report = score(refs if refs is not None else read_kv(text, what="transcript"), hyps)
        atomic_write_text(out / "wer", report.render())
        return report.summary()
    if (out / "wer").exists():
        (out / "wer").unlink()
        log.info("%s has no text: removed %s of an earlier decode", data_dir, out / "wer")
    return None


def write_details(out: Path, hypotheses: Mapping[str, Hypothesis], tokenizer: Tokenizer,
                  ctm: bool = False, as_json: bool = False) -> None:
    """OUT/ctm (``utt 1 start dur word conf``; needs timed hypotheses) and/or
    OUT/hyp.jsonl (:meth:`Hypothesis.record` per utterance, in data-dir order); one not
    asked for is removed if an earlier run left it."""
    for name, wanted in (("ctm", ctm), ("hyp.jsonl", as_json)):
        if not wanted and (out / name).exists():
            (out / name).unlink()
            log.info("removed %s of an earlier decode", out / name)
    if ctm:
        missing = [u for u, h in hypotheses.items() if h.timed is None]
        if missing:
            raise ValueError(f"no times for {len(missing)} utterances (first '{missing[0]}')")
        write_ctm(out / "ctm", {u: h.timed.words for u, h in hypotheses.items()})
    if as_json:
        lines = (json.dumps(h.record(u, tokenizer), ensure_ascii=False)
                 for u, h in hypotheses.items())
        atomic_write_text(out / "hyp.jsonl", "".join(f"{line}\n" for line in lines))
