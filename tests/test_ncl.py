"""NCL on real ml-100k: its structural and prototype losses equal the authors' formulas
written densely (RecBole-GNN's ncl.py), the warm-up gates the prototypes, the epoch count
survives a checkpoint, and bad settings are refused."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphcl.errors import ConfigError
from graphcl.train import build_trainer


def _ncl(shared_data, tmp_path, **config):
    cfg = {"epochs": 1, "seed": 3, "num_clusters": 20, "warm_up": 1, **config}
    return build_trainer("ncl", "ml-100k", data_root=shared_data, device="cpu", run_dir=tmp_path / "ncl",
                         config=cfg, verbose=False).model


def _dense_nce(anchor, positive, keys, tau):
    """The authors' form: −log(exp(a·p/τ) / Σ_j exp(a·k_j/τ)), summed over the batch."""
    pos = torch.exp((anchor * positive).sum(1) / tau)
    total = torch.exp(anchor @ keys.T / tau).sum(1)
    return -torch.log(pos / total).sum()


def test_structural_and_prototype_losses_equal_the_authors_dense_formulas(shared_data, tmp_path):
    model = _ncl(shared_data, tmp_path, ssl_reg=1.0, proto_reg=1.0, reg_weight=0.0, alpha=0.5)
    gen = torch.Generator().manual_seed(0)
    list(zip(range(1), model.batches(gen)))          # epoch 0: warm-up, no prototypes yet
    assert not model.prototypes_active()
    batch = next(iter(model.batches(gen)))          # epoch 1: e-step, prototypes on
    assert model.prototypes_active() and set(model.centroids) == {"user", "item"}
    users, pos, neg = batch
    out = model.loss(batch)
    layers = model.encoder.layers(model.graph)
    n_users = model.num_users
    c0, c2 = F.normalize(layers[0], dim=1), F.normalize(layers[2], dim=1)
    cu0, ci0, cu2, ci2 = c0[:n_users], c0[n_users:], c2[:n_users], c2[n_users:]
    ssl = _dense_nce(cu2[users], cu0[users], cu0, 0.1) + 0.5 * _dense_nce(ci2[pos], ci0[pos], ci0, 0.1)
    torch.testing.assert_close(out["ssl"], ssl, rtol=1e-4, atol=1e-3)
    cu, ci = model.centroids["user"], model.centroids["item"]
    torch.testing.assert_close(cu.norm(dim=1), torch.ones(20))
    proto = (_dense_nce(cu0[users], cu[model.assignment["user"][users]], cu, 0.1)
             + _dense_nce(ci0[pos], ci[model.assignment["item"][pos]], ci, 0.1))
    torch.testing.assert_close(out["proto"], proto, rtol=1e-4, atol=1e-3)
    final_u = torch.stack(layers[:4]).mean(0)[:n_users]
    final_i = torch.stack(layers[:4]).mean(0)[n_users:]
    bpr = F.softplus((final_u[users] * final_i[neg]).sum(1) - (final_u[users] * final_i[pos]).sum(1)).mean()
    torch.testing.assert_close(out["bpr"], bpr)
    torch.testing.assert_close(out["loss"], out["bpr"] + out["ssl"] + out["proto"] + out["reg"])


def test_the_epoch_count_is_saved_with_the_model(shared_data, tmp_path):
    model = _ncl(shared_data, tmp_path)
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        model.batches(gen)
    state = model.state_dict()
    assert int(state["epochs_started"]) == 2
    fresh = _ncl(shared_data, tmp_path / "b")
    fresh.load_state_dict(state)
    assert int(fresh.epochs_started) == 2


def test_ncl_trains_one_epoch_deterministically(shared_data, tmp_path):
    def first_loss(path):
        model = _ncl(shared_data, path, warm_up=0)
        return model.loss(next(iter(model.batches(torch.Generator().manual_seed(5)))))["loss"].detach()
    assert torch.equal(first_loss(tmp_path / "a"), first_loss(tmp_path / "b"))


def test_too_many_clusters_are_refused(shared_data, tmp_path):
    with pytest.raises(ConfigError, match="num_clusters 1000 exceeds min\\(users, items\\) = 943"):
        _ncl(shared_data, tmp_path, num_clusters=1000)


def test_the_regularizer_is_the_norms_of_the_batch_ego_rows_in_value_and_gradient(shared_data, tmp_path):
    """RecBole's EmbLoss as NCL calls it: λ (||E⁰_u[users]|| + ||E⁰_i[pos]|| + ||E⁰_i[neg]||) / B,
    Frobenius norms of the gathered rows (duplicates counted)."""
    model = _ncl(shared_data, tmp_path, reg_weight=0.5)
    users, pos, neg = next(iter(model.batches(torch.Generator().manual_seed(0))))
    tables = [model.encoder.user_embedding, model.encoder.item_embedding]
    got = model.loss((users, pos, neg))["reg"]
    want = 0.5 * (torch.linalg.vector_norm(tables[0][users]) + torch.linalg.vector_norm(tables[1][pos])
                  + torch.linalg.vector_norm(tables[1][neg])) / users.numel()
    torch.testing.assert_close(got, want)
    for a, b in zip(torch.autograd.grad(got, tables), torch.autograd.grad(want, tables)):
        torch.testing.assert_close(a, b)
