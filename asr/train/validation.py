"""The loss of a batch, and the dev-set evaluation run at each epoch end."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from asr.config.schema import LossConfig
from asr.data.collate import Batch
from asr.data.tokenizer import Tokenizer
from asr.functional.ctc_search import ctc_greedy_search
from asr.functional.edit_distance import ErrorCounts, align
from asr.functional.lengths import make_pad_mask
from asr.nn.ctc_head import ctc_loss
from asr.nn.model import CTCModel
from asr.train import signals
from asr.train.distributed import Dist

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def compute_loss(model: torch.nn.Module, batch: Batch, amp: str = "none",
                 loss_cfg: LossConfig | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss of a batch summed over its utterances (in float32 whatever the
    autocast dtype), and the number of infeasible (zeroed) utterances, both 0-dim tensors
    on the batch's device.

    Plain CTC by default; ``loss_cfg`` adds intermediate CTC ((1 - w) final + w mean of the
    intermediate layers', ESPnet's weighting) and CR-CTC (a batch of V views: their CTC
    summed plus the weighted KL of each view's frame posteriors to the other's, detached,
    as icefall; the sum is divided by V so that one utterance weighs the same with it)."""
    loss_cfg = loss_cfg or LossConfig()
    with torch.autocast(batch.feats.device.type, dtype=AMP_DTYPES.get(amp),
                        enabled=amp != "none"):
        intermediate: list[torch.Tensor] = []
        log_probs, out_lens = model(batch.feats, batch.feat_lens, intermediate=intermediate)
    loss, zeroed = ctc_loss(log_probs.float(), out_lens, batch.targets, batch.target_lens)
    if intermediate:
        inter = sum(ctc_loss(lp.float(), out_lens, batch.targets, batch.target_lens)[0]
                    for lp in intermediate) / len(intermediate)
        loss = (1 - loss_cfg.interctc_weight) * loss + loss_cfg.interctc_weight * inter
    if batch.views > 1:
        if loss_cfg.cr_ctc_weight:
            loss = loss + loss_cfg.cr_ctc_weight * consistency_loss(log_probs.float(), out_lens,
                                                                    batch.views)
        loss, zeroed = loss / batch.views, zeroed // batch.views
    return loss, zeroed


def consistency_loss(log_probs: torch.Tensor, lengths: torch.Tensor, views: int = 2
                     ) -> torch.Tensor:
    """CR-CTC's regularizer: the summed KL(q || p) over valid frames, p each row's
    posteriors (V*N, T, V) and q the detached posteriors of the same utterance's next view
    (rows view-major, as :class:`asr.data.collate.Batch` lays them out)."""
    target = log_probs.detach().roll(-(log_probs.shape[0] // views), dims=0)
    kl = F.kl_div(log_probs, target, reduction="none", log_target=True).sum(-1)  # (V*N, T)
    return kl.masked_fill(make_pad_mask(lengths, kl.shape[1]), 0.0).sum()


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
