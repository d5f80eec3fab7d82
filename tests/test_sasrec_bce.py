"""SASRec's paper loss (``loss_type: bce``): one unseen negative per training example, and the
binary cross-entropy of eq. 8 written out; ``ce`` stays the default and draws no negatives."""
from __future__ import annotations

import math

import pytest
import torch

from graphcl.data.sequences import SequenceDataset
from graphcl.models.seq.negatives import UnseenItemSampler
from graphcl.registry import get_method


def _toy() -> SequenceDataset:
    # user 0: 1 2 3 4 | 5 6 (valid, test); user 1: 2 3 4 5 | 7 8
    items = torch.tensor([1, 2, 3, 4, 5, 6, 2, 3, 4, 5, 7, 8])
    return SequenceDataset("toy", 9, items, torch.tensor([0, 6, 12]))


def test_negatives_avoid_the_users_training_items_and_cover_the_rest():
    data = _toy()
    sampler = UnseenItemSampler(data)
    gen = torch.Generator().manual_seed(0)
    users = torch.tensor([0, 1] * 2000)
    drawn = sampler.sample(users, gen)
    train_items = {0: {1, 2, 3, 4}, 1: {2, 3, 4, 5}}
    for u in (0, 1):
        got = set(drawn[users == u].tolist())
        assert got == set(range(1, 10)) - train_items[u]        # validation/test items may be drawn
    counts = torch.bincount(drawn[users == 0], minlength=10)[[5, 6, 7, 8, 9]].float()
    assert float(counts.min() / counts.max()) > 0.8               # uniform over the unseen ones


def test_bce_equals_eq_8_and_ce_draws_no_negatives(tmp_path):
    spec = get_method("sasrec")
    config = {**spec.defaults, "hidden_size": 8, "inner_size": 16, "num_heads": 1, "max_len": 4,
              "batch_size": 4, "loss_type": "bce"}
    torch.manual_seed(0)
    model = spec.build(_toy(), config, "cpu")
    batch = next(iter(model.batches(torch.Generator().manual_seed(1))))
    assert batch["neg"].shape == batch["target"].shape
    h = model.encode(batch["seq"], batch["len"])
    e = model.item_embeddings
    expected = 0.0
    for i in range(len(h)):
        pos = float(h[i] @ e[batch["target"][i]])
        expected -= math.log(1 / (1 + math.exp(-pos))) / len(h)
    for i in range(len(h)):
        neg = float(h[i] @ e[batch["neg"][i]])
        expected -= math.log(1 - 1 / (1 + math.exp(-neg))) / len(h)
    assert float(model.rec_loss(h, batch)) == pytest.approx(expected, rel=1e-5)
    ce = spec.build(_toy(), {**config, "loss_type": "ce"}, "cpu")
    assert "neg" not in next(iter(ce.batches(torch.Generator().manual_seed(1))))
    with pytest.raises(ValueError, match="loss_type must be one of ce, bce, got 'bpr'"):
        spec.build(_toy(), {**config, "loss_type": "bpr"}, "cpu")


def test_a_user_who_has_seen_every_item_is_refused():
    # one user of 3 items; its training part (all but the last two) holds items 1, 2, 3
    data = SequenceDataset("all-seen", 3, torch.tensor([1, 2, 3, 1, 2, 3]), torch.tensor([0, 6]))
    with pytest.raises(ValueError, match="all-seen: a user has seen every item, so no negative can be drawn"):
        UnseenItemSampler(data)
    # repeats are one item: training part 1, 1, 1, 2 leaves item 3 unseen
    repeated = SequenceDataset("repeats", 3, torch.tensor([1, 1, 1, 2, 2, 3]), torch.tensor([0, 6]))
    drawn = UnseenItemSampler(repeated).sample(torch.zeros(50, dtype=torch.long), torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == {3}


def test_ce_padding_class_adds_the_zero_padding_row_as_a_class():
    """RecBole's CE (the authors' MCLRec code) runs the softmax over the whole item table, the
    padding row included: with that row at zero its logit is 0, one more e^0 in each denominator."""
    spec = get_method("sasrec")
    config = {**spec.defaults, "hidden_size": 8, "inner_size": 16, "num_heads": 1, "max_len": 4, "batch_size": 4}
    torch.manual_seed(0)
    model = spec.build(_toy(), {**config, "ce_padding_class": True}, "cpu")
    batch = next(iter(model.batches(torch.Generator().manual_seed(1))))
    h = model.encode(batch["seq"], batch["len"])
    e = model.item_embeddings
    assert torch.equal(e[0], torch.zeros_like(e[0]))
    logits = h @ e[1:].T                                           # the real items 1..n
    target = batch["target"] - 1
    plain = (torch.logsumexp(logits, 1) - logits.gather(1, target[:, None])[:, 0]).mean()
    padded = (torch.log(torch.exp(logits).sum(1) + 1.0) - logits.gather(1, target[:, None])[:, 0]).mean()
    assert float(model.rec_loss(h, batch)) == pytest.approx(float(padded), rel=1e-5)
    default = spec.build(_toy(), config, "cpu")
    default.load_state_dict(model.state_dict())
    assert float(default.rec_loss(h, batch)) == pytest.approx(float(plain), rel=1e-5)
    assert float(padded) > float(plain)
    with pytest.raises(ValueError, match="ce_padding_class must be true or false, got 'yes'"):
        spec.build(_toy(), {**config, "ce_padding_class": "yes"}, "cpu")
