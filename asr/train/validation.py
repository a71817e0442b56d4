"""The loss of a batch, and the dev-set evaluation run at each epoch end."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from asr.data.collate import Batch
from asr.data.tokenizer import Tokenizer
from asr.functional.ctc_search import ctc_greedy_search
from asr.functional.edit_distance import ErrorCounts, align
from asr.nn.ctc_head import ctc_loss
from asr.nn.model import CTCModel
from asr.train import signals
from asr.train.distributed import Dist

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def compute_loss(model: torch.nn.Module, batch: Batch, amp: str = "none"
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed CTC loss of a batch (in float32 whatever the autocast dtype) and the number
    of infeasible (zeroed) utterances, both 0-dim tensors on the batch's device."""
    with torch.autocast(batch.feats.device.type, dtype=AMP_DTYPES.get(amp),
                        enabled=amp != "none"):
        log_probs, out_lens = model(batch.feats, batch.feat_lens)
    return ctc_loss(log_probs.float(), out_lens, batch.targets, batch.target_lens)


@torch.no_grad()
def validate(model: CTCModel, loader: DataLoader, tokenizer: Tokenizer, device: torch.device,
             dist: Dist | None = None) -> tuple[float, ErrorCounts, bool]:
    """Dev loss per utterance and greedy word error counts over every rank's shard, and
    whether a preemption signal arrived (this rank stops early; the others finish theirs,
    then all learn it from the one all-reduce at the end)."""
    dist = dist or Dist()
    model.eval()
    total, n = 0.0, 0
    counts = ErrorCounts()
    for batch in loader:
        if signals.requested():
            break
        batch = batch.to(device)
        log_probs, out_lens = model(batch.feats, batch.feat_lens)
        loss, _ = ctc_loss(log_probs.float(), out_lens, batch.targets, batch.target_lens)
        total += float(loss)
        n += len(batch.utt_ids)
        for ref, ids in zip(batch.texts, ctc_greedy_search(log_probs, out_lens), strict=True):
            c, _ = align(ref.split(), tokenizer.decode(ids).split())
            counts += c
    total, n, words, ins, dels, subs, stop = dist.sum_over_ranks(
        [total, n, counts.ref_tokens, counts.ins, counts.dels, counts.subs,
         float(signals.requested())])
    counts = ErrorCounts(int(words), int(ins), int(dels), int(subs))
    return total / max(1, n), counts, stop > 0
