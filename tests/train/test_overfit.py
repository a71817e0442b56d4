"""A tiny model must learn 4 synthetic utterances perfectly: the whole stack is wired."""

import pytest
import torch

from asr.config.model_schema import (
    BiLSTMConfig,
    ConformerConfig,
    Conv2dFrontendConfig,
    LSTMConfig,
    ModelConfig,
)
from asr.config.schema import FbankConfig
from asr.data.cmvn import UtteranceCmvn
from asr.data.features import compute_fbank
from asr.data.tokenizer import CharTokenizer
from asr.functional import ctc_greedy_search
from asr.nn.ctc_head import ctc_loss
from asr.nn.registry import build_model
from asr.testing.fixtures import WORDS, synth_utterance

DIGITS = [[1, 2], [3], [4, 0, 5], [2, 1]]


@pytest.mark.parametrize("encoder", [
    BiLSTMConfig(num_layers=1, hidden_size=48, dropout=0.0),
    LSTMConfig(num_layers=2, hidden_size=48, dropout=0.0),
    ConformerConfig(d_model=48, num_layers=2, num_heads=2, ff_dim=96, kernel_size=5,
                    dropout=0.0, attention_dropout=0.0),
], ids=["bilstm", "lstm", "conformer"])
def test_tiny_model_overfits_four_utterances(encoder):
    torch.manual_seed(0)
    texts = [" ".join(WORDS[d] for d in ds) for ds in DIGITS]
    tok = CharTokenizer(CharTokenizer.train(texts))
    cfg = FbankConfig(sample_rate=8000, num_mel_bins=23)
    norm = UtteranceCmvn()
    feats = [norm(compute_fbank(torch.from_numpy(synth_utterance(ds, seed=i).astype("float32")),
                                8000, cfg)) for i, ds in enumerate(DIGITS)]
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    lens = torch.tensor([f.shape[0] for f in feats])
    targets = [tok.encode(t) for t in texts]
    y = torch.nn.utils.rnn.pad_sequence([torch.tensor(t) for t in targets], batch_first=True)
    ylens = torch.tensor([len(t) for t in targets])
    frontend = Conv2dFrontendConfig(channels=8, output_dim=48)
    model = build_model(ModelConfig(frontend=frontend, encoder=encoder), 23, tok.vocab_size)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(600):
        model.train()
        log_probs, out_lens = model(x, lens)
        loss, zeroed = ctc_loss(log_probs, out_lens, y, ylens)
        assert zeroed == 0
        opt.zero_grad()
        (loss / len(DIGITS)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step % 25 == 24:
            model.eval()
            with torch.no_grad():
                hyps = ctc_greedy_search(*model(x, lens))
            if hyps == targets:
                break
    assert [tok.decode(h) for h in hyps] == texts, f"not learned after {step + 1} steps"
