"""Reading shard dirs (``data.source: lhotse_shar``): shards read front to back through
lhotse, one shuffle buffer of shards in memory at a time, batches as the
:class:`asr.data.shar_plan.ShardPlan` says.

Paths are anything lhotse opens: local dirs, URLs its ``open_best`` knows, ``pipe:cmd``.
A shard's cuts are JSON and its data ``.npy`` arrays or FLAC audio; a cut whose audio is
not in the shard (a file path or a command in the cuts' JSON) is refused, so reading a
shard never opens other files nor runs a command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from asr.config.schema import FbankConfig
from asr.data.collate import Batch, collate
from asr.data.dataset import (
    Item,
    OnTheFlyFbank,
    Utterance,
    UtteranceItems,
    ctc_feasible,
)
from asr.data.features import num_frames
from asr.data.shar_index import FIELD, Content, ShardIndex
from asr.data.shar_plan import ShardPlan
from asr.data.tokenizer import Tokenizer
from asr.errors import DataError

log = logging.getLogger(__name__)


def iterate_shard(paths: dict[str, str], what: str) -> Iterator:
    """The cuts of one shard with their data attached, in stored order; a shard lhotse
    cannot read (truncated, corrupt) is a DataError naming ``what`` and the last good cut."""
    from lhotse.shar.readers.lazy import LazySharIterator

    last = "none (at its start)"
    it = iter(LazySharIterator(fields={k: [v] for k, v in paths.items()}))
    while True:
        try:
            cut = next(it)
        except StopIteration:
            return
        except Exception as e:  # tarfile, gzip, JSON and lhotse's own errors
            raise DataError(f"{what} ({paths['cuts']}): unreadable after cut {last}: "
                            f"{type(e).__name__}: {e}") from None
        last = f"'{cut.id}'"
        yield cut


def shard_data(cut, content: Content) -> np.ndarray:
    """Samples (S,) in int16 scale, or features (T, D) float32, of a cut read from a shard."""
    try:
        if content == "audio":
            sources = cut.recording.sources if cut.has_recording else []
            if len(sources) != 1 or sources[0].type != "memory":
                raise DataError("its audio is not inside the shard (refused: reading a shard "
                                "opens no other file and runs no command)")
            return cut.load_audio()[0] * 32768.0  # Kaldi's int16 scale, exact for 16-bit
        if not cut.has_features or cut.features.storage_type not in ("memory_npy",):
            raise DataError("its features are not inside the shard as .npy")
        return np.asarray(cut.load_features(), dtype=np.float32)
    except DataError as e:
        raise DataError(f"cut '{cut.id}': {e}") from None
    except Exception as e:
        raise DataError(f"cut '{cut.id}': cannot decode its {FIELD[content]}: "
                        f"{type(e).__name__}: {e}") from None


def cut_text(cut) -> str:
    text = cut.supervisions[0].text if cut.supervisions else None
    if not text:
        raise DataError(f"cut '{cut.id}' has no supervision text")
    return text


class ShardFeatures:
    """Feature source over the cuts in memory: their stored features, or fbank of their
    audio (speed-perturbed and augmented by ``fbank`` as on the data-dir path)."""

    def __init__(self, content: Content, fbank: OnTheFlyFbank | None, sample_rate: int):
        if content == "audio" and fbank is None:
            raise ValueError("audio shards need an OnTheFlyFbank")
        self.content, self.fbank, self.rate = content, fbank, sample_rate
        self.cuts: dict[str, object] = {}

    def __call__(self, utt: Utterance, epoch: int = 0) -> np.ndarray:
        cut = self.cuts.get(utt.utt_id)
        if cut is None:
            raise DataError(f"cut '{utt.utt_id}' is missing from its shard")
        data = shard_data(cut, self.content)
        if self.fbank is None:
            return data
        return self.fbank.of_samples(torch.from_numpy(data), self.rate, utt.utt_id, epoch)


def plan_lengths(index: ShardIndex, cfg: FbankConfig) -> list[list[int]]:
    """Each shard's cut lengths in feature frames (nominal: before speed changes)."""
    if index.content == "features":
        return [s.lengths for s in index.shards]
    return [[num_frames(n, cfg) for n in s.lengths] for s in index.shards]


class ShardBatches(IterableDataset):
    """Collated :class:`Batch` es of a shard dir, in the plan's order from its ``start``.

    Each DataLoader worker reads the buffers of one lane of the plan, so no shard is read
    twice; worker w serves lane (first lane + w), so the DataLoader's round-robin over
    workers gives the plan's order from any resume point. Cuts that CTC cannot align
    (too short for their transcripts) are dropped when read and logged.
    """

    def __init__(self, directory: str, index: ShardIndex, plan: ShardPlan, items: UtteranceItems,
                 tokenizer: Tokenizer, lengths: list[list[int]],
                 out_length: Callable[[int], int], min_speed_frames: Callable[[int], int]):
        self.directory, self.index, self.plan, self.items = directory, index, plan, items
        self.tokenizer, self.out_length, self.min_speed_frames = (tokenizer, out_length,
                                                                  min_speed_frames)
        self.frames = [n for shard in lengths for n in shard]
        source = items.source
        assert isinstance(source, ShardFeatures)
        self.source = source

    def set_epoch(self, epoch: int) -> None:
        self.items.epoch = epoch

    def __len__(self) -> int:
        return len(self.plan)

    def _utterance(self, cut, number: int) -> Utterance | None:
        text = cut_text(cut)
        ids = tuple(self.tokenizer.encode(text))
        if not ids or not all(1 <= i < self.tokenizer.vocab_size for i in ids):
            raise DataError(f"cut '{cut.id}': transcript encodes to ids outside "
                            f"[1, {self.tokenizer.vocab_size})")
        utt = Utterance(cut.id, "", self.frames[number], text, ids)
        if not ctc_feasible(utt, self.out_length, self.min_speed_frames):
            log.warning("cut '%s': %d frames are too few for its %d tokens after subsampling: "
                        "dropped", cut.id, utt.num_frames, len(ids))
            return None
        return utt

    def _read_buffer(self, shards: tuple[int, ...], wanted: set[int]) -> dict[int, Utterance]:
        """The wanted cuts of a buffer's shards (data into :attr:`source`), by number."""
        utts: dict[int, Utterance] = {}
        for s in shards:
            shard = self.index.shards[s]
            first = self.plan.first_cut[s]
            what = f"shard {s} of {self.directory}"
            count = 0
            try:
                for k, cut in enumerate(iterate_shard(self.index.paths(self.directory, shard),
                                                      what)):
                    count = k + 1
                    if first + k not in wanted:
                        continue
                    utt = self._utterance(cut, first + k)
                    if utt is not None:
                        utts[first + k] = utt
                        self.source.cuts[cut.id] = cut
            except DataError as e:
                if not self.items.skip_bad:
                    raise
                log.warning("skipping the rest of %s: %s", what, e)
            if count < shard.num_cuts and not self.items.skip_bad:
                raise DataError(f"{what}: {count} cuts read, {shard.num_cuts} written "
                                "(shards.json): the shard is truncated")
        return utts

    def _batch(self, cuts: tuple[int, ...], utts: dict[int, Utterance]) -> Batch:
        items: list[Item] = []
        for c in cuts:
            if c in utts:
                items.append(self.items(utts[c]))
            elif self.items.skip_bad:  # unreadable: counted as skipped
                shard, pos = self.plan.shard_of(c)
                items.append((f"shard {shard} cut {pos}", None, None, ""))
        if not items:
            raise DataError("a whole batch was dropped (see the warnings above): its cuts are "
                            "too short for their transcripts")
        return collate(items)

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        if info is None:  # in this process: every lane, in the plan's order
            todo = self.plan.remaining()
        else:
            if info.num_workers != self.plan.lanes:
                raise ValueError(f"a plan for {self.plan.lanes} lanes read by "
                                 f"{info.num_workers} workers")
            todo = self.plan.remaining((self.plan.first_lane() + info.id) % self.plan.lanes)
        buffers = self.plan.plan(self.plan.epoch).buffers
        wanted: dict[int, set[int]] = {}
        for p in todo:
            wanted.setdefault(p.buffer, set()).update(p.cuts)
        loaded: dict[int, tuple[int, dict[int, Utterance]]] = {}  # lane -> its buffer now
        for p in todo:
            if p.lane not in loaded or loaded[p.lane][0] != p.buffer:
                if p.lane in loaded:  # a lane's buffer is done when its next one starts
                    for utt in loaded[p.lane][1].values():
                        self.source.cuts.pop(utt.utt_id, None)
                loaded[p.lane] = (p.buffer, self._read_buffer(buffers[p.buffer],
                                                              wanted[p.buffer]))
            yield self._batch(p.cuts, loaded[p.lane][1])
        self.source.cuts.clear()


def open_index(directory: str) -> ShardIndex:
    """The index of a shard dir (local: its files' sizes are checked too)."""
    index = ShardIndex.load(directory)
    if Path(directory).is_dir():
        index.check_files(Path(directory))
    return index
