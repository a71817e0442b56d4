#!/usr/bin/env python3
"""Does a causal model leave CTC's all-blank plateau on Speech Commands? A plain-PyTorch
probe, outside the asr package on purpose (so that what it shows is not our code's doing):
conv2d x4 (or x8, x16) -> LSTM -> 35 words + blank, trained on a data dir's precomputed
feats.scp (global mean/variance normalization, batches of 16, AdamW, 1 thread), printing
the training loss and the dev error of the best-scoring word after every epoch.

  local/ctc_plateau_probe.py --data data --encoder lstm            # stays at loss ~2.71
  local/ctc_plateau_probe.py --data data --encoder bilstm          # leaves it in epoch 4
  local/ctc_plateau_probe.py --data data --encoder lstm --loss last_frame

RESULTS.md ("Streaming") has what each setting gave.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import kaldiio
import numpy as np
import torch
from torch import nn


def load(data: Path, split: str) -> list[tuple[np.ndarray, str]]:
    """(frames (T, D), word) of every utterance of data/split."""
    text = dict(line.split() for line in (data / split / "text").read_text().splitlines())
    feats = dict(kaldiio.load_scp(str(data / split / "feats.scp")))
    return [(np.asarray(feats[u]), w) for u, w in text.items()]


class Probe(nn.Module):
    """(N, T, D) -> (N, T', words + 1) log-probs; lstm, bilstm or lc_bilstm (a backward
    LSTM within chunks of the size ``forward`` is given, 0: whole utterances)."""

    def __init__(self, args: argparse.Namespace, feat_dim: int, vocab: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, 32, 3, 2), nn.ReLU(), nn.Conv2d(32, 32, 3, 2),
                                   nn.ReLU()]
        freq = ((feat_dim - 3) // 2 + 1 - 3) // 2 + 1
        for _ in range({4: 0, 8: 1, 16: 2}[args.subsampling]):
            layers += [nn.Conv2d(32, 32, 3, 2), nn.ReLU()]
            freq = (freq - 3) // 2 + 1
        self.conv = nn.Sequential(*layers)
        self.lin = nn.Linear(32 * freq, 256)
        self.norm = nn.LayerNorm(256) if args.layer_norm else nn.Identity()
        self.lc = args.encoder == "lc_bilstm"
        if self.lc:
            self.fwd = nn.ModuleList([nn.LSTM(256, 192, batch_first=True),
                                      nn.LSTM(384, 192, batch_first=True)])
            self.bwd = nn.ModuleList([nn.LSTM(256, 192, batch_first=True),
                                      nn.LSTM(384, 192, batch_first=True)])
            self.drop = nn.Dropout(0.1)
            self.out = nn.Linear(384, vocab)
            return
        bi = args.encoder == "bilstm"
        self.lstm = nn.LSTM(256, 192 if bi else 320, args.layers, batch_first=True,
                            bidirectional=bi, dropout=0.1 if args.layers > 1 else 0.0)
        self.out = nn.Linear(384 if bi else 320, vocab)

    def forward(self, x: torch.Tensor, chunk: int = 0) -> torch.Tensor:
        y = self.conv(x.unsqueeze(1))
        n, c, t, f = y.shape
        y = self.norm(self.lin(y.transpose(1, 2).reshape(n, t, c * f)))
        if not self.lc:
            return self.out(self.lstm(y)[0]).log_softmax(-1)
        for fwd, bwd in zip(self.fwd, self.bwd, strict=True):
            ahead = fwd(y)[0]
            if chunk == 0:
                back = bwd(y.flip(1))[0].flip(1)
            else:
                pad = (-t) % chunk
                z = nn.functional.pad(y, (0, 0, 0, pad)).reshape(n * (t + pad) // chunk, chunk, -1)
                back = bwd(z.flip(1))[0].flip(1).reshape(n, t + pad, -1)[:, :t]
            y = self.drop(torch.cat([ahead, back], -1))
        return self.out(y).log_softmax(-1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("data"))
    p.add_argument("--encoder", choices=["lstm", "bilstm", "lc_bilstm"], default="lstm")
    p.add_argument("--loss", choices=["ctc", "last_frame"], default="ctc",
                   help="last_frame: cross-entropy of the word at the last frame")
    p.add_argument("--subsampling", type=int, choices=[4, 8, 16], default=4)
    p.add_argument("--layers", type=int, default=2, help="lstm and bilstm layers")
    p.add_argument("--layer-norm", action="store_true", help="LayerNorm before the LSTM")
    p.add_argument("--tail-pad", type=int, default=0, help="frames of zeros (the mean) "
                   "appended to every batch: time after the word")
    p.add_argument("--full-context-prob", type=float, default=0.5,
                   help="lc_bilstm: share of batches at full context (else chunks 4/8/16)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=8)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    random.seed(0)
    torch.set_flush_denormal(True)
    train, dev = load(args.data, "train"), load(args.data, "dev")
    words = sorted({w for _, w in train})
    index = {w: i + 1 for i, w in enumerate(words)}
    every = np.concatenate([f for f, _ in train])
    mean, std = every.mean(0), every.std(0)
    model = Probe(args, every.shape[1], len(words) + 1)
    opt = torch.optim.AdamW(model.parameters(), args.lr)
    ctc = nn.CTCLoss(zero_infinity=True)

    def batch(items: list[tuple[np.ndarray, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.zeros(len(items), max(len(f) for f, _ in items) + args.tail_pad, every.shape[1])
        for i, (f, _) in enumerate(items):
            x[i, :len(f)] = torch.from_numpy((f - mean) / std)
        return x, torch.tensor([index[w] for _, w in items])

    for epoch in range(args.epochs):
        random.shuffle(train)
        model.train()
        start, total = time.time(), 0.0
        for b in range(0, len(train), 16):
            x, y = batch(train[b:b + 16])
            chunk = 0
            if model.lc and random.random() >= args.full_context_prob:
                chunk = random.choice([4, 8, 16])
            lp = model(x, chunk)
            frames = torch.full((len(y),), lp.shape[1], dtype=torch.long)
            loss = nn.functional.nll_loss(lp[:, -1], y) if args.loss == "last_frame" else \
                ctc(lp.transpose(0, 1), y[:, None], frames, torch.ones_like(y))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5)
            opt.step()
            total += loss.item()
        model.eval()
        errors = []
        for chunk in ((0, 8, 4) if model.lc else (0,)):
            wrong = 0
            with torch.no_grad():
                for b in range(0, len(dev), 64):
                    x, y = batch(dev[b:b + 64])
                    best = model(x, chunk)[:, :, 1:].max(1).values.argmax(-1) + 1
                    wrong += int((best != y).sum())
            errors.append(f"{'full' if chunk == 0 else f'chunk {chunk}'} "
                          f"{100 * wrong / len(dev):.1f}%")
        print(f"epoch {epoch + 1}: train loss {total / (len(train) / 16):.3f}, dev error "
              f"{', '.join(errors)} ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
