"""``train_examples: users`` (kang205/SASRec's training): one example per user and epoch, the
loss read at every position against the next item, one unseen negative per position for bce;
and the encoder's per-position outputs it reads (``SASRecEncoder.encode_positions``)."""
from __future__ import annotations

import math

import pytest
import torch

from graphcl.data.sequences import SequenceDataset
from graphcl.nn.sasrec import SASRecEncoder
from graphcl.registry import get_method
from graphcl.train import train
from tests._seq_helpers import cyclic_sequences

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"hidden_size": 8, "inner_size": 16, "num_heads": 1, "max_len": 4, "batch_size": 8}


def _toy() -> SequenceDataset:
    # user 0: 1 2 3 4 5 6 | 7 8 (valid, test); user 1: 2 3 | 4 5; user 2: 9 | 1 2 (one training
    # item: predicts nothing); user 3: 3 4 5 | 6 7
    items = torch.tensor([1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 4, 5, 9, 1, 2, 3, 4, 5, 6, 7])
    return SequenceDataset("toy", 9, items, torch.tensor([0, 8, 12, 15, 20]))


def _model(loss_type: str = "bce", **kw):
    spec = get_method("sasrec")
    torch.manual_seed(0)
    return spec.build(_toy(), {**spec.defaults, **SMALL, "loss_type": loss_type,
                               "train_examples": "users", **kw}, "cpu")


def test_one_example_per_user_with_the_next_item_at_every_position():
    model = _model()
    assert model.num_batches() == 1
    batch = next(iter(model.batches(torch.Generator().manual_seed(0))))
    rows = {int(u): (s.tolist(), t.tolist()) for u, s, t in zip(batch["user"], batch["seq"], batch["targets"])}
    # the last max_len + 1 = 5 training items; user 2 (one training item) is left out
    assert rows == {0: ([2, 3, 4, 5], [3, 4, 5, 6]), 1: ([0, 0, 0, 2], [0, 0, 0, 3]),
                    3: ([0, 0, 3, 4], [0, 0, 4, 5])}
    assert batch["len"].tolist() == [len([i for i in rows[int(u)][0] if i]) for u in batch["user"]]
    train_items = {0: {1, 2, 3, 4, 5, 6}, 1: {2, 3}, 3: {3, 4, 5}}
    for u, neg, tgt in zip(batch["user"].tolist(), batch["neg"], batch["targets"]):
        assert ((neg == 0) == (tgt == 0)).all()                       # a negative per real position
        assert not set(neg[tgt != 0].tolist()) & train_items[u]


def test_the_loss_averages_eq_8_over_every_real_position():
    """kang205/SASRec: Σ istarget·(−log σ(pos) − log(1 − σ(neg))) / Σ istarget, with the
    outputs of the full-width forward pass."""
    model = _model()
    batch = next(iter(model.batches(torch.Generator().manual_seed(0))))
    model.eval()                                              # no dropout: both sides see the same
    out = model.encoder(batch["seq"], batch["len"]).detach()
    e = model.item_embeddings
    total, count = 0.0, 0
    for b in range(out.size(0)):
        for t in range(out.size(1)):
            if batch["targets"][b, t]:
                pos = float(out[b, t] @ e[batch["targets"][b, t]])
                neg = float(out[b, t] @ e[batch["neg"][b, t]])
                total -= math.log(1 / (1 + math.exp(-pos))) + math.log(1 - 1 / (1 + math.exp(-neg)))
                count += 1
    assert count == 4 + 1 + 2
    assert float(model.loss(batch)["loss"]) == pytest.approx(total / count, rel=1e-5)
    # ce: the full softmax at every real position
    ce = _model("ce")
    ce.load_state_dict(model.state_dict())
    ce.eval()
    logits = out @ e[1:].T
    real = batch["targets"] != 0
    expected = torch.nn.functional.cross_entropy(logits[real], batch["targets"][real] - 1)
    assert "neg" not in next(iter(ce.batches(torch.Generator().manual_seed(0))))
    assert float(ce.loss({k: v for k, v in batch.items() if k != "neg"})["loss"]) == pytest.approx(
        float(expected), rel=1e-5)


@pytest.mark.parametrize("positions", ["end_aligned", "from_start"])
def test_encode_positions_equals_the_full_width_forward(positions):
    torch.manual_seed(0)
    enc = SASRecEncoder(30, 10, 16, 2, 2, 32, positions=positions).eval()
    seqs = torch.zeros(6, 10, dtype=torch.long)
    for row, n in enumerate([1, 3, 5, 9, 10, 2]):           # widths from every group
        seqs[row, 10 - n:] = torch.randint(1, 31, (n,))
    lengths = (seqs != 0).sum(1)
    h, index = enc.encode_positions(seqs, lengths)
    full = enc(seqs, lengths).reshape(-1, 16)
    assert sorted(index.tolist()) == torch.nonzero(seqs.reshape(-1)).reshape(-1).tolist()
    torch.testing.assert_close(h, full[index], rtol=1e-5, atol=1e-5)
    last = torch.arange(6) * 10 + 9
    order = {int(i): k for k, i in enumerate(index)}
    torch.testing.assert_close(h[[order[int(i)] for i in last]], enc.encode(seqs, lengths), rtol=1e-5, atol=1e-5)
    empty_h, empty_i = enc.encode_positions(seqs[:0], lengths[:0])
    assert empty_h.shape == (0, 16) and empty_i.numel() == 0


def test_user_examples_train_deterministically_and_learn(tmp_path):
    data = cyclic_sequences()
    config = {"hidden_size": 16, "inner_size": 32, "max_len": 10, "batch_size": 32, "eval_batch_size": 50,
              "epochs": 10, "lr": 5e-3, "hidden_dropout": 0.1, "attn_dropout": 0.1,
              "loss_type": "bce", "train_examples": "users"}
    runs = [train("sasrec", data, config=config, run_dir=tmp_path / run, verbose=False) for run in "ab"]
    assert runs[0].test == runs[1].test
    assert runs[0].test["hit@5"] > 0.5           # cyclic next items; chance is 5 / 30


def test_user_examples_refuse_other_backbones_and_plug_in_methods():
    with pytest.raises(ValueError, match="train_examples must be one of prefixes, users, got 'all'"):
        _model(train_examples="all")
    with pytest.raises(ValueError, match="train_examples=users needs backbone=sasrec"):
        spec = get_method("gru4rec")
        spec.build(_toy(), {**spec.defaults, "train_examples": "users"}, "cpu")
    spec = get_method("mclrec")
    with pytest.raises(ValueError, match="train_examples=users is SASRec's own training; MCLRec defines"):
        spec.build(_toy(), {**spec.defaults, "train_examples": "users", "max_len": 4}, "cpu")
