"""Pure functions: lengths and masks, CTC search and feasibility, edit distance."""

from asr.functional.ctc_search import (
    ctc_greedy_search,
    ctc_min_input_length,
    ctc_prefix_beam_search,
    ctc_prefix_beam_search_nbest,
)
from asr.functional.edit_distance import ErrorCounts, align
from asr.functional.lengths import make_pad_mask

__all__ = [
    "ErrorCounts",
    "align",
    "ctc_greedy_search",
    "ctc_min_input_length",
    "ctc_prefix_beam_search",
    "ctc_prefix_beam_search_nbest",
    "make_pad_mask",
]
