"""The CTC levers of issue 27, each a config switch: CR-CTC, intermediate CTC with
self-conditioning, SpecAugment from a later epoch, and the blank penalty at decoding."""

import pytest
import torch

from asr.config import load_config
from asr.config.model_schema import ConformerConfig, ModelConfig
from asr.config.schema import ExperimentConfig, LossConfig, SpecAugmentConfig
from asr.data.collate import collate
from asr.data.dataset import FeatsDataset, Utterance
from asr.decode.search import SearchSpec, make_search
from asr.exp.experiment import Experiment
from asr.functional.ctc_search import ctc_greedy_search, penalize_blank
from asr.nn.registry import build_model
from asr.testing import make_exp_dir, make_train_corpus
from asr.train.checkpoint import load_checkpoint
from asr.train.runner import run
from asr.train.validation import compute_loss, consistency_loss


def config(*overrides: str) -> ExperimentConfig:
    return load_config(ExperimentConfig, None, list(overrides))


@pytest.mark.parametrize("overrides, message", [
    (["loss.interctc_weight=0.3"], "needs both"),
    (["model.interctc_layers=[2]"], "needs both"),
    (["model.interctc_layers=[3]", "loss.interctc_weight=0.3"], "from 1 to 2"),
    (["model.interctc_layers=[1,1]", "loss.interctc_weight=0.3"], "distinct"),
    (["model.self_conditioning=true"], "needs model.interctc_layers"),
    (["loss.cr_ctc_weight=0.2", "specaug.enabled=false"], "needs specaug.enabled"),
    (["specaug.start_epoch=11"], "would never run"),
    (["loss.interctc_weight=1.0", "model.interctc_layers=[1]"], r"in \[0, 1\)"),
    (["model.encoder.type=lstm", "model.encoder.num_layers=4", "model.interctc_layers=[2]",
      "loss.interctc_weight=0.3", "model.self_conditioning=true"], "streaming"),
])
def test_conflicting_lever_settings_are_refused_at_load(overrides, message):
    with pytest.raises(Exception, match=message):
        config(*overrides)


def utterances(n: int = 3) -> list[Utterance]:
    return [Utterance(f"u{i}", "", 40 + 10 * i, f"a{i}", (1 + i, 2)) for i in range(n)]


def dataset(views: int, epoch: int, start_epoch: int = 1) -> FeatsDataset:
    feats = {f"u{i}": torch.randn(40 + 10 * i, 10, generator=torch.Generator().manual_seed(i))
             for i in range(3)}

    class Source:
        def __call__(self, utt, epoch):
            return feats[utt.utt_id].numpy()

    spec = SpecAugmentConfig(num_freq_masks=2, max_freq_width=4, num_time_masks=2,
                             max_time_width=8, max_time_ratio=0.3, start_epoch=start_epoch)
    ds = FeatsDataset(utterances(), lambda x, _u: x, spec, seed=1, source=Source(), views=views)
    ds.set_epoch(epoch)
    return ds


def test_two_views_are_two_specaugment_draws_and_view_zero_is_the_one_view_draw():
    one, two = dataset(1, 1)[1], dataset(2, 1)[1]
    assert one[1].shape == (50, 10) and two[1].shape == (2, 50, 10)
    assert torch.equal(two[1][0], one[1])
    assert not torch.equal(two[1][0], two[1][1])


def test_specaugment_waits_for_its_start_epoch():
    clean = dataset(2, 1, start_epoch=3)[0][1]
    assert torch.equal(clean[0], clean[1])  # no masks yet: two identical views
    masked = dataset(2, 3, start_epoch=3)[0][1]
    assert not torch.equal(masked[0], clean[0])


def test_collate_lays_out_views_view_major_and_counts_each_utterance_once():
    items = [dataset(2, 1)[i] for i in range(3)]
    batch = collate(items)
    assert batch.views == 2 and batch.utt_ids == ["u0", "u1", "u2"]
    assert batch.feats.shape == (6, 60, 10)
    assert batch.feat_lens.tolist() == [40, 50, 60] * 2
    assert batch.num_frames == 150
    assert torch.equal(batch.feats[4, :50], items[1][1][1])
    assert torch.equal(batch.targets[:3], batch.targets[3:])


def test_consistency_loss_is_kl_between_views_over_valid_frames_only():
    g = torch.Generator().manual_seed(0)
    view = torch.randn(2, 7, 5, generator=g).log_softmax(-1)
    lengths = torch.tensor([7, 4, 7, 4])
    same = torch.cat([view, view])
    assert consistency_loss(same, lengths).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.randn(2, 7, 5, generator=g).log_softmax(-1)
    pair = torch.cat([view, other]).requires_grad_()
    loss = consistency_loss(pair, lengths)
    kl = lambda p, q: (q.exp() * (q - p)).sum()  # noqa: E731 - KL(q || p)
    expected = (kl(view[0], other[0]) + kl(view[1, :4], other[1, :4])
                + kl(other[0], view[0]) + kl(other[1, :4], view[1, :4]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    padded = pair.detach().clone()
    padded[1, 4:] = padded[3, 4:] = torch.randn(3, 5).log_softmax(-1)
    assert consistency_loss(padded, lengths).item() == pytest.approx(loss.item(), rel=1e-5)
    loss.backward()
    assert pair.grad[1, 4:].abs().sum() == 0 and pair.grad[:, :4].abs().sum() > 0


@pytest.fixture
def conformer():
    torch.manual_seed(0)
    cfg = ModelConfig(encoder=ConformerConfig(d_model=32, num_layers=3, num_heads=2, ff_dim=64),
                      interctc_layers=(1, 2), self_conditioning=True)
    return build_model(cfg, 10, 6).eval()


def batch_of(views: int):
    items = [dataset(views, 1)[i] for i in range(3)]
    return collate(items)


def test_cr_ctc_on_identical_views_is_the_one_view_loss(conformer):
    one = batch_of(1)
    two = collate([(u, torch.stack([f, f]), t, x) for u, f, t, x in
                   (dataset(1, 1)[i] for i in range(3))])
    plain, z1 = compute_loss(conformer, one)
    doubled, z2 = compute_loss(conformer, two, loss_cfg=LossConfig(cr_ctc_weight=0.2))
    assert doubled.item() == pytest.approx(plain.item(), rel=1e-5) and z1 == z2
    masked, _ = compute_loss(conformer, batch_of(2), loss_cfg=LossConfig(cr_ctc_weight=0.2))
    unregularized, _ = compute_loss(conformer, batch_of(2), loss_cfg=LossConfig())
    assert masked.item() > unregularized.item()


def test_intermediate_ctc_mixes_the_layers_losses_and_conditions_the_next_layer(conformer):
    batch = batch_of(1)
    intermediate = []
    log_probs, lens = conformer(batch.feats, batch.feat_lens, intermediate=intermediate)
    assert len(intermediate) == 2 and all(i.shape == log_probs.shape for i in intermediate)
    from asr.nn.ctc_head import ctc_loss
    final = ctc_loss(log_probs, lens, batch.targets, batch.target_lens)[0]
    inter = [ctc_loss(i, lens, batch.targets, batch.target_lens)[0] for i in intermediate]
    loss, _ = compute_loss(conformer, batch, loss_cfg=LossConfig(interctc_weight=0.3))
    assert loss.item() == pytest.approx((0.7 * final + 0.3 * sum(inter) / 2).item(), rel=1e-5)
    # the conditioning is part of the model: without it the same weights give other output
    unconditioned = conformer.condition
    conformer.condition = None
    try:
        assert not torch.allclose(conformer(batch.feats, batch.feat_lens)[0], log_probs)
    finally:
        conformer.condition = unconditioned
    assert "condition.weight" in conformer.state_dict()


def test_blank_penalty_lowers_blank_only_and_reaches_every_search(tmp_path):
    lp = torch.tensor([[[-0.1, -3.0, -2.5], [-0.2, -2.0, -4.0], [-0.1, -2.6, -3.0]]])
    lens = torch.tensor([3])
    assert ctc_greedy_search(lp, lens) == [[]]
    pen = penalize_blank(lp, 3.0)
    assert torch.equal(pen[..., 1:], lp[..., 1:]) and torch.allclose(pen[..., 0], lp[..., 0] - 3)
    assert penalize_blank(lp, 0.0) is lp
    assert ctc_greedy_search(pen, lens) == [[2, 1]]
    exp = Experiment.load(make_exp_dir(tmp_path / "exp"))
    for method in ("greedy", "prefix_beam"):
        assert make_search(exp, SearchSpec(method))(lp, lens) == [[]]
        expected = make_search(exp, SearchSpec(method))(pen, lens)
        assert expected[0] and make_search(exp, SearchSpec(method, blank_penalty=3.0))(lp, lens) \
            == expected
        streaming = make_search(exp, SearchSpec(method, blank_penalty=3.0), streaming=True)
        streaming.accept(lp[0, :2])
        streaming.accept(lp[0, 2:])
        assert streaming.finalize() == expected[0]


@pytest.mark.slow
def test_training_with_every_lever_on_runs_resumes_exactly_and_decodes(tmp_path):
    data = make_train_corpus(tmp_path / "data", 8, 4)
    overrides = ["model.encoder.num_layers=3", "model.encoder.hidden_size=16",
                 "model.interctc_layers=[1,2]", "model.self_conditioning=true",
                 "loss.interctc_weight=0.3", "loss.cr_ctc_weight=0.2", "specaug.start_epoch=2",
                 "data.max_frames=400", "train.num_threads=1", "scheduler.warmup_steps=2",
                 "train.epochs=2"]
    cfg = load_config(ExperimentConfig, None, overrides)
    run(cfg, tmp_path / "a", data / "train", data / "dev", data / "lang")
    run(cfg, tmp_path / "b", data / "train", data / "dev", data / "lang")
    (tmp_path / "b/checkpoints/epoch-2.pt").unlink()
    (tmp_path / "b/final.pt").unlink()
    run(cfg, tmp_path / "b", data / "train", data / "dev", data / "lang")  # resumes epoch 2
    a = load_checkpoint(tmp_path / "a/checkpoints/epoch-2.pt")["model"]
    b = load_checkpoint(tmp_path / "b/checkpoints/epoch-2.pt")["model"]
    assert "condition.weight" in a and all(torch.equal(a[k], b[k]) for k in a)
    from asr.decode.data_dir import decode_data_dir
    hyps = decode_data_dir(Experiment.load(tmp_path / "a"), data / "dev").hyps
    assert len(hyps) == 4
