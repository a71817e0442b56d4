"""A streaming exp as sherpa-onnx runs it (``asr export --format sherpa-onnx --streaming``):
its ``OnlineRecognizer`` drives a chunked Conformer through WeNet's CTC contract
(``OnlineWenetCtcModelConfig``), which fixes the graph's six inputs and three outputs::

    (chunk (1, (C-1) S + R, D), offset (1,), required_cache_size (1,),
     att_cache (B, H, L, 2 d_k), cnn_cache (B, 1, d_model, K - 1), att_mask (1, 1, L + C))
        -> (log_probs (1, C, V), att_cache', cnn_cache')

C encoder frames a chunk, S the subsampling, R the frontend's receptive field (sherpa-onnx
reads it as ``right_context`` = R - 1), L = num_left_chunks x C cached frames, B blocks.
sherpa-onnx allocates the caches from the metadata (head, num_blocks, output_size,
cnn_module_kernel), passes ``offset`` = L + the encoder frames so far, and masks the cache
slots not yet filled. A chunk is the frames our step reads for its C outputs (its feature
cache's R - S and S C new ones), so no feature cache is needed.

Noise floor and CMVN go into the graph as offline. Online CMVN (a window of the last
``cmvn_window`` frames) needs those frames: they ride in extra blocks of ``att_cache``
(``num_blocks`` counts them), since the contract has no other state. Per-speaker and
per-utterance CMVN need audio that has not arrived: refused.

Our fbank keeps only ``silence_frames`` of each run of digital silence (exact zeros), so a
model never learns what to say on a long one; sherpa-onnx's streams end in one (the tail
padding that completes the last chunk). The graph makes every output frame whose input
frames are all digitally silent a blank.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from asr.atomic_io import atomic_write
from asr.data.cmvn import GlobalCmvn, OnlineCmvn
from asr.data.kaldi_fbank import DIGITAL_SILENCE_ENERGY
from asr.decode.export import ONNX_OPSET
from asr.decode.export_sherpa import (
    MODEL,
    GlobalNorm,
    OnlineNorm,
    frames_that_count,
    noise_energies,
    set_metadata,
    sherpa_refusal,
    with_noise_floor,
    write_export,
)
from asr.decode.recognizer import chunk_frames
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.nn.model import CTCModel
from asr.nn.registry import encoder_name

INPUTS = ("chunk", "offset", "required_cache_size", "att_cache", "cnn_cache", "att_mask")
OUTPUTS = ("output", "r_att_cache", "r_cnn_cache")
# seconds of zeros after a stream's audio so that sherpa-onnx decodes its last chunk (it
# waits for whole chunks): one chunk and its receptive field, at most
TAIL_CHUNKS = 2
LOG_SILENCE = math.log(DIGITAL_SILENCE_ENERGY)
BLANK_ID = 0


class OnlineNormStep(OnlineNorm):
    """Online CMVN of one chunk: frame t normalized by the speech frames among the last
    ``window`` up to t (the earlier ones from ``ring``), topped up with the training stats
    to ``prior_frames``, as :class:`asr.data.cmvn.OnlineCmvnStream` does (float64 sums)."""

    def __init__(self, cmvn: OnlineCmvn, shift: int):
        super().__init__(cmvn)
        self.shift = shift  # frames a chunk moves the stream on

    def forward(self, x: torch.Tensor, ring: torch.Tensor, done: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (1, T, D) the chunk, ring (W, D) the W frames before it (those before the
        stream's start are not counted), done (1,) int64 frames before the chunk ->
        normalized (1, T, D) and the ring after the chunk's first ``shift`` frames."""
        w = self.window
        seq = torch.cat([ring, x[0]])  # (W + T, D)
        frame = torch.arange(seq.shape[0], device=x.device) - w + done  # its stream index
        real = (frame >= 0)[None]
        weight = frames_that_count(seq[None], torch.full_like(done, seq.shape[0]),
                                   self.floor)[1] & real
        wd = weight[0].to(torch.float64)[:, None]
        sd = seq.to(torch.float64)
        sums = torch.cumsum(torch.cat([sd * wd, sd * sd * wd, wd], dim=-1), dim=0)
        win = sums[w:] - sums[:x.shape[1]]  # frames (t - W, t] of each chunk frame t
        return self.normalized(sd[w:], win).to(x.dtype)[None], seq[self.shift:self.shift + w]


class WenetCtcStep(nn.Module):
    """sherpa-onnx's six inputs -> (log_probs, att_cache', cnn_cache') (module docstring):
    noise floor, CMVN, the frontend on the chunk, the Conformer's export step, the head."""

    def __init__(self, model: CTCModel, feat_dim: int, chunk: int, left_chunks: int | None,
                 noise: torch.Tensor | None, global_norm: nn.Module | None,
                 online: OnlineCmvn | None):
        super().__init__()
        self.frontend, self.head = model.frontend, model.head
        self.encoder = model.encoder.export_step(chunk, left_chunks)
        self.register_buffer("noise", noise if noise is not None else torch.zeros(0))
        self.global_norm = global_norm
        attn = model.encoder.blocks[0].attn
        self.heads, self.d_k, self.blocks = attn.heads, attn.d_k, len(model.encoder.blocks)
        self.chunk, self.left = chunk, self.encoder.left
        self.field, self.stride = model.frontend.time_window()
        self.frames = (chunk - 1) * self.stride + self.field  # sherpa-onnx's chunk length
        # (C, R): the chunk frames each output frame reads; the log-probs of a blank frame
        self.register_buffer("reads", torch.arange(chunk)[:, None] * self.stride
                             + torch.arange(self.field)[None], persistent=False)
        blank = torch.full((model.head.proj.out_features,), -1e4)
        blank[BLANK_ID] = 0.0
        self.register_buffer("blank", blank, persistent=False)
        self.online = OnlineNormStep(online, chunk * self.stride) if online else None
        slot = self.heads * self.left * 2 * self.d_k  # floats of one att_cache block
        self.feat_dim = feat_dim
        self.ring_shape = (online.window, feat_dim) if online else (0, 0)
        self.extra_blocks = math.ceil(self.ring_shape[0] * self.ring_shape[1] / slot)

    def silent_outputs(self, chunk: torch.Tensor) -> torch.Tensor:
        """(C,) bool: the output frames whose R input frames of ``chunk`` (1, T, D), as
        sherpa-onnx computes them, are all digital silence (every mel energy under
        :data:`asr.data.kaldi_fbank.DIGITAL_SILENCE_ENERGY`)."""
        silent = (chunk[0].amax(dim=-1) < LOG_SILENCE).to(chunk.dtype)  # (T,)
        return silent[self.reads].amin(dim=-1) > 0.5

    def forward(self, chunk: torch.Tensor, offset: torch.Tensor,
                required_cache_size: torch.Tensor, att_cache: torch.Tensor,
                cnn_cache: torch.Tensor, att_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b = self.blocks
        produced = offset - required_cache_size  # encoder frames of the stream so far
        x = with_noise_floor(chunk, self.noise)
        ring = None
        if self.online is not None:
            x, ring = self.online(x, self.unpack_ring(att_cache[b:]), produced * self.stride)
        elif self.global_norm is not None:
            x = self.global_norm(x, offset)
        y, _ = self.frontend(x, torch.full_like(offset, self.frames))
        # the cache's real frames: those att_mask marks, never more than the stream made
        att_len = torch.minimum(att_mask[0, 0, :self.left].to(torch.int64).sum().reshape(1),
                                produced)
        k, v = att_cache[:b].split(self.d_k, dim=-1)
        y, k, v, _, conv = self.encoder(y[:, :self.chunk], torch.full_like(offset, self.chunk),
                                        k.contiguous(), v.contiguous(), att_len, cnn_cache[:b, 0])
        new_att = torch.cat([k, v], dim=-1)
        if ring is not None:
            new_att = torch.cat([new_att, self.pack_ring(ring, att_cache.dtype)])
        log_probs = torch.where(self.silent_outputs(chunk)[None, :, None], self.blank,
                                self.head(y))
        return log_probs, new_att, torch.cat([conv[:, None], cnn_cache[b:]])

    def unpack_ring(self, extra: torch.Tensor) -> torch.Tensor:
        """The extra att_cache blocks (E, H, L, 2 d_k) -> the CMVN's ring (W, D)."""
        n = self.ring_shape[0] * self.ring_shape[1]
        return extra.reshape(-1)[:n].reshape(self.ring_shape)

    def pack_ring(self, ring: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The ring (W, D) -> extra att_cache blocks (E, H, L, 2 d_k), zero-filled."""
        shape = (self.extra_blocks, self.heads, self.left, 2 * self.d_k)
        flat = ring.reshape(-1).to(dtype)
        pad = torch.zeros(math.prod(shape) - flat.numel(), dtype=dtype, device=ring.device)
        return torch.cat([flat, pad]).reshape(shape)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        """A first chunk: zero caches, offset = required_cache_size, cache slots masked."""
        blocks = self.blocks + self.extra_blocks
        d_model = self.heads * self.d_k
        kernel = self.encoder.encoder.blocks[0].conv.context
        mask = torch.cat([torch.zeros(self.left, dtype=torch.bool),
                          torch.ones(self.chunk, dtype=torch.bool)])
        left = torch.tensor([self.left])
        return (torch.randn(1, self.frames, self.feat_dim), left, left.clone(),
                torch.zeros(blocks, self.heads, self.left, 2 * self.d_k),
                torch.zeros(blocks, 1, d_model, kernel), mask[None, None])

    def metadata(self, vocab_size: int) -> dict[str, int]:
        """The keys sherpa-onnx's wenet_ctc model reads."""
        return {"head": self.heads, "num_blocks": self.blocks + self.extra_blocks,
                "output_size": self.heads * self.d_k,
                "cnn_module_kernel": self.encoder.encoder.blocks[0].conv.context + 1,
                "right_context": self.field - 1, "subsampling_factor": self.stride,
                "vocab_size": vocab_size}


def streaming_refusal(exp: Experiment, model: CTCModel) -> str | None:
    """Why ``exp`` cannot stream in sherpa-onnx, with the fix; None when it can."""
    refusal = sherpa_refusal(exp, streaming=True)
    if refusal:
        return refusal
    if encoder_name(model.encoder) != "conformer":
        return (f"{exp.path}: sherpa-onnx streams CTC models through WeNet's chunked-Conformer "
                f"contract; this exp's encoder is '{encoder_name(model.encoder)}': export it "
                "with --format onnx --streaming for our own runtime, or offline")
    return None


def export_sherpa_streaming(exp: Experiment, model: CTCModel, out: Path, chunk_ms: float,
                            left_chunks: int | None, quantize: str | None = None) -> Path:
    """OUT/model.onnx (WeNet's streaming CTC contract, chunks of ``chunk_ms``),
    tokens.txt, sherpa_onnx.json and README.md; returns the JSON's path."""
    refusal = streaming_refusal(exp, model)
    if refusal:
        raise AsrError(refusal)
    chunk = chunk_frames(exp, model, chunk_ms)  # refuses non-streaming models and sizes
    if left_chunks is not None and left_chunks < 1:
        raise AsrError(f"--left-chunks must be >= 1, got {left_chunks}")
    cmvn = exp.normalizer()  # global, online or none: the others are refused above
    online = cmvn if isinstance(cmvn, OnlineCmvn) else None
    global_norm = GlobalNorm(cmvn) if isinstance(cmvn, GlobalCmvn) else None
    try:
        step = WenetCtcStep(model.eval(), exp.feats.num_mel_bins, chunk, left_chunks,
                            noise_energies(exp), global_norm, online).eval()
    except ValueError as e:
        raise AsrError(f"{exp.path}: {e}") from None
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        program = torch.onnx.export(step, step.example_inputs(), dynamo=True,
                                    opset_version=ONNX_OPSET, verbose=False,
                                    input_names=list(INPUTS), output_names=list(OUTPUTS))
    left = step.left // chunk
    proto = program.model_proto  # a new proto each time it is read
    set_metadata(proto, {"model_type": "wenet_ctc", "model_author": "asr",
                         **step.metadata(exp.tokenizer.vocab_size),
                         "chunk_size": chunk, "left_chunks": left})
    data_bytes = proto.SerializeToString()
    atomic_write(out / MODEL, lambda f: f.write(data_bytes))
    tail = TAIL_CHUNKS * step.frames * exp.feats.frame_shift_ms / 1000
    return write_export(exp, out, {"recognizer": "OnlineRecognizer",
                                   "model_config": "wenet_ctc", "chunk_size": chunk,
                                   "num_left_chunks": left, "chunk_ms": chunk_ms,
                                   "tail_padding_s": round(tail, 3)}, quantize)
