"""Reading shard dirs (``data.source: lhotse_shar``): lhotse Shar shards read front to
back, one shuffle buffer of shards in memory at a time, batches as the
:class:`asr.data.shar_plan.ShardPlan` says.

The shards are lhotse's format (``asr shar`` writes them with lhotse's SharWriter and
reads each back through lhotse before it counts); this module reads their tar members
itself, 5x faster than lhotse's TarIterator (see :func:`_tar_members`). Locations are
local paths or the URLs lhotse's ``open_best`` opens. A cut's data comes only from its
shard's tar, so reading a shard never opens another file nor runs a command.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
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


@dataclass(frozen=True)
class ShardCut:
    """One cut of a shard as training reads it: its id, transcript, speaker and data (the
    tar member's bytes: ``.npy`` features or FLAC audio)."""

    id: str
    text: str | None
    speaker: str | None
    data: bytes
    kind: str  # the data member's suffix: "npy" or "flac"


def _is_local(path: str) -> bool:
    return "://" not in path and not path.startswith("pipe:")


def _tar_members(path: str) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each member of a tar, in order. A local file is read member by
    member with one read each; a URL or pipe is streamed with a 1 MB buffer. Measured on
    20 h of feature shards (scripts/bench_shards.py): lhotse's TarIterator (``r|*``, 10 kB
    reads, every byte copied through its buffers) read 5x slower than this."""
    if _is_local(path):
        with open(path, "rb", buffering=0) as f, tarfile.open(fileobj=f, mode="r:") as tar:
            for member in tar:
                f.seek(member.offset_data)
                data = f.read(member.size)
                if len(data) != member.size:
                    raise tarfile.ReadError(f"member {member.name}: {len(data)} of "
                                            f"{member.size} bytes (truncated)")
                yield member.name, data
        return
    from lhotse.serialization import open_best

    with open_best(path, "rb") as f, tarfile.open(fileobj=f, mode="r|", bufsize=1 << 20) as tar:
        for member in tar:
            reader = tar.extractfile(member)
            yield member.name, reader.read() if reader is not None else b""


def _cut_lines(path: str) -> Iterator[dict]:
    """The cuts of a shard's ``cuts.NNNNNN.jsonl.gz`` as JSON objects, in order."""
    from lhotse.serialization import open_best

    with open_best(path, "r") as f:  # gunzips by the name, as lhotse does
        for line in f:
            if line.strip():
                yield json.loads(line)


def _shard_cuts(paths: dict[str, str]) -> Iterator[ShardCut]:
    field = next(k for k in paths if k != "cuts")
    members = _tar_members(paths[field])
    for raw in _cut_lines(paths["cuts"]):
        (name, data), (meta_name, _) = next(members), next(members)  # data, then its JSON
        stem, _, kind = name.rpartition(".")
        if stem != raw["id"] or meta_name.rpartition(".")[0] != stem:
            raise DataError(f"cut '{raw['id']}' is paired with tar members {name} and "
                            f"{meta_name}: the cuts and the {field} file do not match")
        sups = raw.get("supervisions") or [{}]
        yield ShardCut(raw["id"], sups[0].get("text"), sups[0].get("speaker"), data, kind)


def iterate_shard(paths: dict[str, str], what: str) -> Iterator[ShardCut]:
    """The cuts of one shard with their data, in stored order; a shard that cannot be
    read (truncated, corrupt) is a DataError naming ``what`` and the last good cut.

    Only the cuts' ids, transcripts and speakers are taken from their JSON, and their data
    only from the tar: a recording source in the JSON (a path, a command) is never used,
    so reading a shard opens no other file and runs no command."""
    last = "none (at its start)"
    it = _shard_cuts(paths)
    while True:
        try:
            cut = next(it)
        except StopIteration:
            return
        except DataError as e:
            raise DataError(f"{what}: {e}") from None
        except Exception as e:  # tarfile, gzip, JSON and OS errors
            raise DataError(f"{what} ({paths['cuts']}): unreadable after cut {last}: "
                            f"{type(e).__name__}: {e}") from None
        last = f"'{cut.id}'"
        yield cut


def _npy(data: bytes) -> np.ndarray:
    """A ``.npy`` file's array, without a copy (numpy's own header reader; no pickles)."""
    f = io.BytesIO(data[:4096])
    major, _ = np.lib.format.read_magic(f)
    header = (np.lib.format.read_array_header_1_0 if major == 1
              else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = header(f)
    if dtype.hasobject:
        raise ValueError("an object array (refused: it would unpickle)")
    arr = np.frombuffer(data, dtype, count=int(np.prod(shape)), offset=f.tell())
    return arr.reshape(shape, order="F" if fortran else "C")


def shard_data(cut: ShardCut, content: Content) -> np.ndarray:
    """Samples (S,) in int16 scale, or features (T, D) float32, of a cut read from a shard."""
    expected = "flac" if content == "audio" else "npy"
    try:
        if cut.kind != expected:
            raise ValueError(f"a .{cut.kind} member where .{expected} was expected")
        if content == "audio":
            samples, _ = soundfile.read(io.BytesIO(cut.data), dtype="int16")
            if samples.ndim != 1:
                raise ValueError(f"{samples.shape[1]} channels, one expected")
            return samples.astype(np.float32)  # Kaldi's int16 scale, exact
        return np.array(_npy(cut.data), dtype=np.float32)  # writable: torch takes it
    except Exception as e:
        raise DataError(f"cut '{cut.id}': cannot decode its {FIELD[content]}: "
                        f"{type(e).__name__}: {e}") from None


def cut_text(cut: ShardCut) -> str:
    if not cut.text:
        raise DataError(f"cut '{cut.id}' has no supervision text")
    return cut.text


class ShardFeatures:
    """Feature source over the cuts in memory: their stored features, or fbank of their
    audio (speed-perturbed and augmented by ``fbank`` as on the data-dir path)."""

    def __init__(self, content: Content, fbank: OnTheFlyFbank | None, sample_rate: int):
        if content == "audio" and fbank is None:
            raise ValueError("audio shards need an OnTheFlyFbank")
        self.content, self.fbank, self.rate = content, fbank, sample_rate
        self.cuts: dict[str, ShardCut] = {}

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
                 tokenizer: Tokenizer,
                 out_length: Callable[[int], int], min_speed_frames: Callable[[int], int]):
        self.directory, self.index, self.plan, self.items = directory, index, plan, items
        self.tokenizer, self.out_length, self.min_speed_frames = (tokenizer, out_length,
                                                                  min_speed_frames)
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
        utt = Utterance(cut.id, "", self.plan.lengths[number], text, ids)
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
                    if k == 0 and cut.id != shard.cut_ids[0]:
                        raise DataError(f"{what}: starts with cut '{cut.id}', shards.json says "
                                        f"'{shard.cut_ids[0]}': the files were replaced")
                    if first + k not in wanted:
                        continue
                    try:
                        utt = self._utterance(cut, first + k)
                    except DataError as e:
                        if not self.items.skip_bad:
                            raise
                        log.warning("skipping: %s", e)
                        continue
                    if utt is not None:
                        utts[first + k] = utt
                        self.source.cuts[cut.id] = cut
            except DataError as e:
                if not self.items.skip_bad:
                    raise
                log.warning("skipping the rest of %s: %s", what, e)
            if count < shard.num_cuts:
                if not self.items.skip_bad:
                    raise DataError(f"{what}: {count} cuts read, {shard.num_cuts} written "
                                    "(shards.json): the shard is truncated")
                log.warning("%s: %d of its %d cuts read; the rest are skipped", what, count,
                            shard.num_cuts)
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
