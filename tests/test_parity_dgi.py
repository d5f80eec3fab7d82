"""The parity harness's DGI parts (experiments/parity/adapters/dgi.py). No checkout, no network:
the patches apply to small texts written here (holding the lines they must find), the log parser
reads a snippet in the reference's printout format written here."""
from __future__ import annotations

import io
import json
import random
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.parity.adapter import PatchError, RunContext, apply_patches, load_adapter  # noqa: E402
from experiments.parity.adapters.dgi import (RECIPE, offdiagonal_edges, ours_recipe,  # noqa: E402
                                             parse_dgi_log, reference_final, self_loop_count)
from experiments.parity.refhook import MARKER  # noqa: E402

#: stand-ins for the reference's files: only the lines the patches look for, around a few of ours
EXECUTE = """import numpy as np
from utils import process

dataset = 'cora'
nb_epochs = 10000
adj, features, labels, idx_train, idx_val, idx_test = process.load_data(dataset)
for epoch in range(nb_epochs):
    model.train()
    if cnt_wait == patience:
        print('Early stopping!')
        break

    loss.backward()
    optimiser.step()

model.load_state_dict(torch.load('best_dgi.pkl'))
embeds, _ = model.embed(features, sp_adj if sparse else adj, sparse, None)
tot = tot.cuda()
for _ in range(50):
    log.cuda()
    best_acc = best_acc.cuda()
    print(log)
"""
PROCESS = "import numpy as np\nfrom scipy.sparse.linalg.eigen.arpack import eigsh\nimport sys\n"
DISCRIMINATOR = """import torch


class Scores(torch.nn.Module):
    def __init__(self, n_h):
        super().__init__()
        self.f_k = torch.nn.Bilinear(n_h, n_h, 1)

    def forward(self, c, h_pl, h_mi):
        c_x = torch.unsqueeze(c, 1)
        c_x = c_x.expand_as(h_pl)
        sc_1 = torch.squeeze(self.f_k(h_pl, c_x), 2)
        sc_2 = torch.squeeze(self.f_k(h_mi, c_x), 2)
        return torch.cat((sc_1, sc_2), 1)
"""


def _tree(root: Path) -> None:
    (root / "utils").mkdir(parents=True)
    (root / "layers").mkdir()
    (root / "execute.py").write_text(EXECUTE, encoding="utf-8")
    (root / "utils" / "process.py").write_text(PROCESS, encoding="utf-8")
    (root / "layers" / "discriminator.py").write_text(DISCRIMINATOR, encoding="utf-8")


def _ctx(tmp_path: Path, dataset: str = "citeseer", epochs: int = 10000) -> RunContext:
    return RunContext(dataset=dataset, seed=3, epochs=epochs, workdir=tmp_path, checkout=tmp_path,
                      data_root=tmp_path, python=sys.executable)


def test_every_patch_applies_once_and_not_twice(tmp_path):
    _tree(tmp_path)
    adapter = load_adapter("dgi")
    patches = adapter.patches(_ctx(tmp_path, "citeseer", 500))
    done = apply_patches(tmp_path, patches)
    assert all(p["replaced"] == 1 for p in done) and all(p["reason"] for p in done)
    text = (tmp_path / "execute.py").read_text(encoding="utf-8")
    assert "dataset = 'citeseer'\n" in text and "nb_epochs = 500\n" in text
    assert ".cuda()" not in text
    assert "parity_refhook.setup(seed=True)" in text and "parity_refhook.node_setup(" in text
    # the stopping epoch ends its clock; the final record comes after the embedding of the reloaded state
    assert text.index("parity_refhook.train_done()") > text.index("print('Early stopping!')")
    assert text.index("parity_last = model.embed") < text.index("model.load_state_dict") \
        < text.index("embeds, _ =") < text.index("parity_dgi.reference_final(")
    assert "eigsh" not in (tmp_path / "utils" / "process.py").read_text(encoding="utf-8")
    compile(text, "execute.py", "exec")
    with pytest.raises(PatchError, match="expected 1 occurrence"):
        apply_patches(tmp_path, patches)


def test_the_discriminator_patch_computes_the_same_bilinear_scores(tmp_path):
    """The speed patch: h_n^T W c + b as one matrix-vector product, the same values as nn.Bilinear
    with the same parameters (and the same gradients)."""
    _tree(tmp_path)
    before: dict = {}
    exec(compile(DISCRIMINATOR, "before", "exec"), before)
    apply_patches(tmp_path, [p for p in load_adapter("dgi").patches(_ctx(tmp_path))
                             if p.file == "layers/discriminator.py"])
    after: dict = {}
    exec(compile((tmp_path / "layers" / "discriminator.py").read_text(encoding="utf-8"), "after", "exec"), after)
    torch.manual_seed(0)
    a = before["Scores"](16)
    with torch.no_grad():
        a.f_k.bias.fill_(0.3)
    b = after["Scores"](16)
    b.load_state_dict(a.state_dict())
    c, h1, h2 = torch.rand(1, 16), torch.randn(1, 40, 16), torch.randn(1, 40, 16)
    out_a, out_b = a(c, h1, h2), b(c, h1, h2)
    assert out_a.shape == out_b.shape == (1, 80)
    torch.testing.assert_close(out_b, out_a, rtol=1e-5, atol=1e-5)
    out_a.square().sum().backward()
    out_b.square().sum().backward()
    torch.testing.assert_close(b.f_k.weight.grad, a.f_k.weight.grad, rtol=1e-4, atol=1e-5)


def test_the_log_parser_reads_records_and_the_50_regressions():
    records = [{"epoch": 0, "train_seconds": 0.5, "loss": 0.69},
               {"epoch": 1, "train_seconds": 0.4, "loss": 0.61},
               {"epoch": 1, "train_seconds": 0.4, "loss": 0.61, "embedded_epoch": 0,
                "valid": {"acc": 0.7}, "test": {"acc": 0.71}}]
    log = "\n".join([MARKER + json.dumps(records[0]), "Loss: tensor(0.6100, grad_fn=<X>)",
                     MARKER + json.dumps(records[1]), "Early stopping!", "Loading 0th epoch",
                     MARKER + json.dumps(records[2]), "tensor(0.7130)", "tensor(0.7150)",
                     "Average accuracy: tensor([0.7141])", "tensor(71.4100)", "tensor(0.2500)", ""])
    out = parse_dgi_log(log)
    assert [r["epoch"] for r in out] == [0, 1]
    assert out[1]["test"] == {"acc": 0.71} and out[1]["embedded_epoch"] == 0   # the final record won
    assert out[1]["own"] == {"final_test": {"acc": 0.7141, "acc_std": 0.0025}, "reloaded_epoch": 0}
    assert "own" not in out[0]
    assert parse_dgi_log(MARKER + json.dumps(records[0]))[0].get("own") is None   # a run that did not finish


def test_ours_is_the_recipe_file_and_the_probe_is_its():
    adapter = load_adapter("dgi")
    from graphcl.config import load_config_file
    assert adapter.ours_config("citeseer") == load_config_file(RECIPE) == ours_recipe()
    assert adapter.method == "contrast" and adapter.fixed_epochs is False
    for key in ("probe_split", "probe_normalize", "probe_weight_decays"):
        assert adapter.probe[key] == ours_recipe()[key]
    assert (adapter.probe["probe_split"], adapter.probe["probe_normalize"], adapter.probe["probe_weight_decays"]) \
        == ("public", "none", [0.0])
    hyper = adapter.hyper("cora")
    cfg = ours_recipe()
    assert (hyper["lr"], hyper["l2_coef"], hyper["patience"], hyper["hid_units"], hyper["nonlinearity"]) == \
        (cfg["lr"], cfg["weight_decay"], cfg["loss_patience"], cfg["encoder"]["gcn"]["out"],
         cfg["encoder"]["gcn"]["activation"])


def test_ours_recipe_refuses_another_composition(tmp_path):
    bad = tmp_path / "grace.yaml"
    bad.write_text("view1: []\nview2: [feature_shuffle]\nprojector: null\nloss: {infonce: {tau: 0.5}}\n")
    with pytest.raises(ValueError, match="not DGI's composition"):
        ours_recipe(bad)


def test_offdiagonal_edges_drop_self_loops_and_count_them():
    adj = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.float32))
    edges = offdiagonal_edges(adj)
    assert edges.dtype == np.int64 and sorted(map(tuple, edges.T.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert self_loop_count(adj) == 2


def test_reference_final_prints_the_probe_of_both_parameter_sets_and_keeps_the_random_states(tmp_path,
                                                                                              monkeypatch):
    from experiments.parity import refhook
    from experiments.parity.convert import write_node_npz
    n = 60
    y = np.arange(n) % 3
    masks = {"train_mask": np.arange(n) < 15, "val_mask": (np.arange(n) >= 15) & (np.arange(n) < 30),
             "test_mask": np.arange(n) >= 30}
    graph = write_node_npz(tmp_path / "g.npz", y, np.array([[0, 1], [1, 0]]), masks)
    monkeypatch.setenv("PARITY_NODE", str(graph))
    monkeypatch.setenv("PARITY_PROBE", json.dumps(load_adapter("dgi").probe))
    monkeypatch.setitem(refhook._state, "probe", None)
    monkeypatch.setitem(refhook._state, "start", 1.0)
    monkeypatch.setitem(refhook._state, "stop", 1.5)
    good = torch.nn.functional.one_hot(torch.as_tensor(y), 3).float()[None] * 5   # (1, N, d) as the reference's
    noise = torch.randn(1, n, 3, generator=torch.Generator().manual_seed(1))
    out = io.StringIO()
    with redirect_stdout(out):
        reference_final(41, 0.25, good, 21, last_params=noise)
    line = out.getvalue().strip()
    assert line.startswith(MARKER)
    rec = json.loads(line[len(MARKER):])
    assert (rec["epoch"], rec["loss"], rec["embedded_epoch"], rec["train_seconds"]) == (41, 0.25, 21, 0.5)
    assert rec["test"]["acc"] == 1.0 and rec["valid"]["acc"] == 1.0
    assert rec["last_params"]["test"]["acc"] < 0.9


def test_reference_final_restores_the_random_states(tmp_path, monkeypatch):
    from experiments.parity import refhook
    from experiments.parity.convert import write_node_npz
    n = 30
    y = np.arange(n) % 2
    masks = {"train_mask": np.arange(n) < 10, "val_mask": (np.arange(n) >= 10) & (np.arange(n) < 20),
             "test_mask": np.arange(n) >= 20}
    monkeypatch.setenv("PARITY_NODE", str(write_node_npz(tmp_path / "g.npz", y, np.array([[0], [1]]), masks)))
    monkeypatch.setenv("PARITY_PROBE", json.dumps(load_adapter("dgi").probe))
    monkeypatch.setitem(refhook._state, "probe", None)
    emb = torch.randn(1, n, 4)

    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    want = draws()
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    with redirect_stdout(io.StringIO()):
        reference_final(3, None, emb, 1)
    assert draws() == want


@pytest.mark.parametrize("dataset,sizes", [("cora", (140, 500, 1000)), ("citeseer", (120, 500, 1000))])
def test_load_data_describes_the_public_split(dataset, sizes, shared_data):
    _, desc = load_adapter("dgi").load_data(dataset, shared_data)
    assert desc["split"] == "public" and (desc["train"], desc["valid"], desc["test"]) == sizes


def test_dgi_protocol_fits_separable_embeddings_and_refuses_bad_input():
    from experiments.parity.adapters.dgi import dgi_protocol_accuracy
    g = torch.Generator().manual_seed(0)
    y = torch.arange(90) % 3
    emb = torch.nn.functional.one_hot(y, 3).float() * 3 + 0.1 * torch.randn(90, 3, generator=g)
    train, test = torch.arange(90) < 30, torch.arange(90) >= 30
    out = dgi_protocol_accuracy(emb[None], y, train, test, runs=4, epochs=100)
    assert out["mean"] == 1.0 and out["std"] == 0.0 and len(out["accs"]) == 4
    few = dgi_protocol_accuracy(emb, y, train, test, runs=3, epochs=1, lr=1e-4, seed=1)
    assert few == dgi_protocol_accuracy(emb, y, train, test, runs=3, epochs=1, lr=1e-4, seed=1)   # seeded
    assert few["mean"] < 1.0 and len(set(few["accs"])) > 1            # random inits, one tiny step: differ
    with pytest.raises(ValueError, match="runs and epochs"):
        dgi_protocol_accuracy(emb, y, train, test, runs=0)
    with pytest.raises(ValueError, match="90 embeddings for 89 labels"):
        dgi_protocol_accuracy(emb, y[:89], train, test)


def test_the_noloops_variant_gives_graphcls_normalized_adjacency(tmp_path):
    """dgi_noloops: one more patch; executed on a small graph with self loops, the patched line's
    A + I has unit diagonal (graphcl's gcn_norm_graph) where the original has 2."""
    text = EXECUTE.replace("nb_epochs = 10000\n", "nb_epochs = 10000\nadj = process.normalize_adj(adj + "
                           "sp.eye(adj.shape[0]))\n")
    _tree(tmp_path)
    (tmp_path / "execute.py").write_text(text, encoding="utf-8")
    base, variant = load_adapter("dgi"), load_adapter("dgi_noloops")
    extra = variant.patches(_ctx(tmp_path))[len(base.patches(_ctx(tmp_path))):]
    assert len(extra) == 1 and variant.name == "dgi_noloops" and variant.ours_config("cora") == base.ours_config("cora")
    apply_patches(tmp_path, extra)
    line = [x for x in (tmp_path / "execute.py").read_text(encoding="utf-8").splitlines()
            if "adj" in x and ("normalize_adj" in x or "csr_matrix" in x)]
    adj = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.float64))
    seen: dict = {}

    class Process:
        @staticmethod
        def normalize_adj(m):
            seen["a"] = sp.csr_matrix(m).toarray()
            return m

    exec("\n".join(line), {"sp": sp, "process": Process, "adj": adj})
    assert np.array_equal(seen["a"], np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]]))
