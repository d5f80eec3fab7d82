"""SASRec / GRU4Rec encoders, the CE loss, MCLRec's losses and meta step, training."""
import json

import pytest
import torch
import torch.nn.functional as F

from graphcl.cli import main
from graphcl.losses import nt_xent
from graphcl.models.seq import SEQ_DEFAULTS, MCLRec, SASRec, full_softmax_ce
from graphcl.models.seq.mclrec import MCLREC_DEFAULTS, margin_regularizer
from graphcl.nn.gru4rec import GRU4RecEncoder
from graphcl.nn.sasrec import SASRecEncoder
from graphcl.train import build_trainer, train
from tests._seq_helpers import cyclic_sequences

SMALL = {"hidden_size": 16, "inner_size": 32, "max_len": 10, "batch_size": 64, "eval_batch_size": 50}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return cyclic_sequences()


def _encoder(**kw):
    torch.manual_seed(0)
    return SASRecEncoder(30, 10, 16, 2, 2, 32, **kw).eval()


def test_sasrec_is_causal():
    enc = _encoder()
    seqs = torch.tensor([[0, 0, 3, 7, 1, 9, 4, 4, 2, 8]])
    base = enc(seqs)
    for t in range(3, 10):
        changed = seqs.clone()
        changed[0, t] = 11 + t
        out = enc(changed)
        torch.testing.assert_close(out[:, :t], base[:, :t], rtol=0, atol=1e-6)
        assert (out[:, t:] - base[:, t:]).abs().amax(-1).min() > 1e-4


def test_sasrec_encode_is_the_last_position_and_ignores_padding():
    enc = _encoder()
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 11, (40,), generator=g)
    items = torch.randint(1, 31, (40, 10), generator=g)
    seqs = torch.where(torch.arange(10) >= 10 - lengths.unsqueeze(1), items, 0)
    seqs[::5, -lengths[::5].clamp(max=3)] = 0                 # some masked items inside
    last = enc.encode(seqs)                                  # grouped by width
    torch.testing.assert_close(last, enc(seqs)[:, -1], rtol=0, atol=1e-5)
    # extra left padding does not change a sequence's representation
    short = seqs[:, -6:][lengths <= 6]
    torch.testing.assert_close(enc.encode(short), last[lengths <= 6], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="max_len"):
        enc.encode(torch.ones(2, 11, dtype=torch.long))


def test_gru4rec_skips_left_padding():
    torch.manual_seed(0)
    enc = GRU4RecEncoder(30, 10, 16, 24, 1, 0.0).eval()
    seqs = torch.tensor([[0, 0, 0, 0, 0, 0, 4, 5, 6, 7], [0, 0, 0, 0, 0, 0, 0, 0, 0, 9]])
    a = enc.encode(seqs)
    b = enc.encode(seqs[:, -4:])
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    reordered = torch.tensor([[0, 0, 0, 0, 0, 0, 7, 6, 5, 4]])
    assert not torch.allclose(enc.encode(reordered), a[:1], atol=1e-4)   # order matters


def test_batches_cover_every_prefix_once(data):
    model = SASRec(data, {**SEQ_DEFAULTS, **SMALL})
    batches = list(model.batches(torch.Generator().manual_seed(0)))
    assert len(batches) == model.num_batches()
    ends = torch.cat([b["end"] for b in batches])
    assert sorted(ends.tolist()) == sorted(data.train_targets()[0].tolist())
    for b in batches:
        for row in range(0, b["seq"].size(0), 17):
            u, end = int(b["user"][row]), int(b["end"][row])
            start = int(data.offsets[u])
            assert start < end < int(data.offsets[u + 1]) - 2      # inside u's training part
            prefix = data.items[max(start, end - 10):end].tolist()
            assert b["seq"][row, 10 - len(prefix):].tolist() == prefix
            assert int(b["target"][row]) == int(data.items[end])


def test_full_softmax_ce_matches_the_formula(data):
    model = SASRec(data, {**SEQ_DEFAULTS, **SMALL})
    h = torch.randn(5, 16)
    target = torch.tensor([1, 7, 30, 2, 2])
    logits = h @ model.item_embeddings[1:].T
    expected = -(logits.log_softmax(-1)[torch.arange(5), target - 1]).mean()
    torch.testing.assert_close(model.rec_loss(h, {"target": target}), expected)
    assert model.item_embeddings.shape == (31, 16) and float(model.item_embeddings[0].detach().abs().sum()) == 0


@pytest.mark.parametrize("padding_class", [False, True])
def test_the_blockwise_cross_entropy_equals_f_cross_entropy_in_values_and_gradients(padding_class):
    """Many items (several key blocks at 256 anchors) and both label conventions: the blockwise
    log-sum-exp form of full_softmax_ce against F.cross_entropy on the materialized logits."""
    g = torch.Generator().manual_seed(3)
    table = torch.randn(9001, 8, generator=g, dtype=torch.float64)
    table[0] = 0.0                                                  # the padding row, held at zero
    table.requires_grad_()
    h = torch.randn(256, 8, generator=g, dtype=torch.float64).requires_grad_()
    target = torch.randint(1, 9001, (256,), generator=g)
    got = full_softmax_ce(h, table, target, padding_class)
    logits = h @ (table if padding_class else table[1:]).T
    want = F.cross_entropy(logits, target if padding_class else target - 1)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(got, (h, table)), torch.autograd.grad(want, (h, table))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_nt_xent_matches_the_authors_logits():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    z = torch.cat([z1, z2])
    sim = z @ z.T / 0.5
    rows = []
    for a in range(12):
        pos = (a + 6) % 12
        negs = [sim[a, k] for k in range(12) if k not in (a, pos)]
        rows.append(torch.stack([sim[a, pos]] + negs))
    expected = F.cross_entropy(torch.stack(rows), torch.zeros(12, dtype=torch.long))
    torch.testing.assert_close(nt_xent(z1, z2, 0.5, "dot"), expected)
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent(z1[:1], z2[:1])


@pytest.mark.parametrize("tau", [1.0, 0.5, 2.5])
def test_margin_regularizer_matches_a_loop(tau):
    """R on dot scores divided by τ (MCLRec passes its ``tau``): at τ 0.5 R doubles, at 2.5 it is 0.4x."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    z = torch.cat([a, b])
    sim = z @ z.T / tau
    first, second, count = 0.0, 0.0, 0
    for i in range(10):
        pos = sim[i, (i + 5) % 10]
        negs = [sim[i, k] for k in range(10) if k not in (i, (i + 5) % 10)]
        max_neg = max(negs)
        lo, hi = min(pos, max_neg), max(pos, max_neg)
        first += max(float(pos - lo), 0.0)
        second += sum(max(float(hi - n), 0.0) for n in negs)
        count += len(negs)
    expected = first / 10 + second / count
    assert expected > 0.5
    assert abs(float(margin_regularizer(a, b, tau)) - expected) < 1e-5


def _snapshot(params):
    return [p.detach().clone() for p in params]


def _changed(before, params):
    return [not torch.equal(b, p.detach()) for b, p in zip(before, params)]


def test_mclrec_meta_step_updates_only_what_it_should(data):
    torch.manual_seed(0)
    model = MCLRec(data, {**MCLREC_DEFAULTS, **SMALL, "lmd": 0.1, "beta": 0.5})
    opts = model.configure_optimizers(1e-2, 0.0)
    assert set(opts) == {"encoder", "augmenters"}
    enc, aug = model.encoder_parameters(), model.augmenter_parameters()
    assert len(enc) + len(aug) == len(list(model.parameters())) and aug
    batch = next(model.batches(torch.Generator().manual_seed(0)))
    assert {"seq1", "len1", "seq2", "len2"} <= set(batch)
    model.train()
    # step 1: encoder only (the item table's padding row never moves)
    e0, a0 = _snapshot(enc), _snapshot(aug)
    parts = model.encoder_step(batch, opts["encoder"])
    assert {"loss", "rec", "cl1", "cl2", "reg"} <= set(parts)
    assert sum(_changed(e0, enc)) >= len(enc) - 1 and not any(_changed(a0, aug))
    assert all(p.requires_grad for p in aug)                  # unfrozen again afterwards
    # step 2: augmenters only
    e1, a1 = _snapshot(enc), _snapshot(aug)
    model.augmenter_step(batch, opts["augmenters"])
    assert all(_changed(a1, aug)) and not any(_changed(e1, enc))
    # step 3: encoder only again
    e2, a2 = _snapshot(enc), _snapshot(aug)
    model.encoder_step(batch, opts["encoder"])
    assert sum(_changed(e2, enc)) >= len(enc) - 1 and not any(_changed(a2, aug))
    # one train_step = two encoder updates and one augmenter update
    out = model.train_step(batch, opts)
    assert {"loss", "aug_loss", "loss_step3"} <= set(out)
    steps = lambda opt: int(next(iter(opt.state.values()))["step"])
    assert steps(opts["encoder"]) == 4 and steps(opts["augmenters"]) == 2


def test_mclrec_joint_variant_uses_one_optimizer(data):
    model = MCLRec(data, {**MCLREC_DEFAULTS, **SMALL, "joint": True, "beta": 0.5})
    opts = model.configure_optimizers(1e-2, 0.0)
    assert list(opts) == ["main"]
    enc, aug = model.encoder_parameters(), model.augmenter_parameters()
    e0, a0 = _snapshot(enc), _snapshot(aug)
    model.train_step(next(model.batches(torch.Generator().manual_seed(0))), opts)
    assert any(_changed(e0, enc)) and all(_changed(a0, aug))


def test_mclrec_plugs_into_the_gru4rec_backbone(data):
    model = MCLRec(data, {**MCLREC_DEFAULTS, **SMALL, "backbone": "gru4rec", "num_layers": 1})
    assert type(model.encoder).__name__ == "GRU4RecEncoder"
    opts = model.configure_optimizers(1e-2, 0.0)
    before = _snapshot(model.encoder_parameters())
    out = model.train_step(next(model.batches(torch.Generator().manual_seed(0))), opts)
    assert torch.isfinite(out["loss"]) and any(_changed(before, model.encoder_parameters()))


def test_sasrec_learns_the_next_item_and_is_deterministic(data, tmp_path):
    cfg = {**SMALL, "epochs": 10, "lr": 5e-3, "hidden_dropout": 0.1, "attn_dropout": 0.1}
    r1 = train("sasrec", data, config=cfg, run_dir=tmp_path / "a", verbose=False)
    assert r1.test["hit@5"] > 0.6                             # random: 5/30
    assert set(r1.test) == {f"{m}@{k}" for m in ("hit", "ndcg", "mrr") for k in (5, 10, 20)}
    short = {**cfg, "epochs": 2}
    r2 = train("sasrec", data, config=short, run_dir=tmp_path / "b", verbose=False)
    r3 = train("sasrec", data, config=short, run_dir=tmp_path / "c", verbose=False)
    assert r2.test == r3.test and r2.test != r1.test


def test_gru4rec_and_mclrec_train_and_mclrec_resumes_exactly(data, tmp_path):
    res = train("gru4rec", data, config={**SMALL, "epochs": 8, "lr": 5e-3}, run_dir=tmp_path / "g",
                verbose=False)
    assert res.test["hit@10"] > 10 / 30
    cfg = {**SMALL, "epochs": 3, "beta": 0.1, "lmd": 0.05}
    full = train("mclrec", data, config=cfg, run_dir=tmp_path / "full", verbose=False)
    build_trainer("mclrec", data, config={**cfg, "epochs": 2}, run_dir=tmp_path / "part", verbose=False).fit()
    resumed = build_trainer("mclrec", data, config=cfg, resume=tmp_path / "part", verbose=False)
    assert resumed.start_epoch == 2 and set(resumed.optimizers) == {"encoder", "augmenters"}
    assert resumed.fit().test == full.test


def test_history_exclusion_option(data, tmp_path):
    cfg = {**SMALL, "epochs": 1}
    plain = build_trainer("sasrec", data, config=cfg, run_dir=tmp_path / "a", verbose=False)
    excl = build_trainer("sasrec", data, config={**cfg, "exclude_history": True}, run_dir=tmp_path / "b",
                         verbose=False)
    excl.model.load_state_dict(plain.model.state_dict())
    # cyclic data: a test target never repeats an input item, so excluding history only
    # removes competitors and can only raise the hit rate
    a, b = plain.evaluate("test"), excl.evaluate("test")
    assert b["hit@20"] >= a["hit@20"] and b != a


def test_cli_trains_a_sequence_file_and_rejects_mismatched_data(data, tmp_path, capsys):
    path = tmp_path / "seqs.txt"
    path.write_text("\n".join(f"u{u} " + " ".join(map(str, data.sequence(u)))
                              for u in range(data.num_users)) + "\n")
    args = ["train", "sasrec", "--dataset", str(path), "--run-dir", str(tmp_path / "run"), "--quiet",
            "--json", "--threads", "1"] + [x for k, v in {**SMALL, "epochs": 1}.items()
                                           for x in ("--set", f"{k}={v}")]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= result["test"]["mrr@10"] <= result["test"]["hit@10"] <= 1
    assert main(["train", "lightgcn", "--dataset", "ml-100k-seq"]) == 2
    assert "lightgcn trains on a user-item interaction dataset" in capsys.readouterr().err
    assert main(["train", "sasrec", "--dataset", "gowalla", "--data-root", str(tmp_path)]) == 2
    assert main(["train", "gru4rec", "--set", "backbone=sasrec"]) == 2
    assert "gru4rec backbone" in capsys.readouterr().err


def test_sequential_methods_take_the_seq_form_and_presets(shared_data, tmp_path):
    t = build_trainer("mclrec", "beauty", data_root=shared_data, run_dir=tmp_path / "r", verbose=False)
    assert (t.config["lmd"], t.config["beta"]) == (0.0, 0.05) and t.task.name == "beauty"
    t = build_trainer("sasrec", "ml-100k", run_dir=tmp_path / "s", verbose=False)
    assert t.task.name == "ml-100k-seq" and t.config["valid_metric"] == "mrr@10"


def test_malloc_trim_every_trims_after_every_nth_step_and_leaves_results_unchanged(data, tmp_path,
                                                                                      monkeypatch):
    """``malloc_trim_every: N`` hands freed heap pages back to the OS after every N-th step
    (memory only: the metrics are bit-identical); a negative value is refused."""
    import graphcl.train.trainer as trainer_module
    # what a trim frees: tests/test_release_freed_memory.py (RSS before and after)
    calls = []
    monkeypatch.setattr(trainer_module, "release_freed_memory", lambda: calls.append(1) or True)
    cfg = {**SMALL, "epochs": 1}
    plain = build_trainer("sasrec", data, config=cfg, run_dir=tmp_path / "a", verbose=False)
    steps = plain.model.num_batches()
    base = plain.fit()
    assert calls == []
    trimmed = train("sasrec", data, config={**cfg, "malloc_trim_every": 2}, run_dir=tmp_path / "b",
                    verbose=False)
    assert len(calls) == steps // 2 and trimmed.test == base.test
    with pytest.raises(ValueError, match=r"config key 'malloc_trim_every' must be an integer in \[0, inf\), got -1"):
        train("sasrec", data, config={**cfg, "malloc_trim_every": -1}, run_dir=tmp_path / "c", verbose=False)


@pytest.mark.parametrize("exclude_history", [False, True])
def test_sequential_evaluation_ranks_blockwise_with_the_same_metrics(data, exclude_history):
    """SASRec's score is encode(s) · E[1:]ᵀ: the task ranks all encodings blockwise
    (DotProductScores) and gets the metrics of the materialized score rows."""
    from graphcl.eval.tasks.sequential import SequentialRankingTask
    cfg = {**SEQ_DEFAULTS, **SMALL, "exclude_history": exclude_history}
    torch.manual_seed(0)
    model = SASRec(data, cfg).eval()
    assert model.scores_are_dot_products()
    task = SequentialRankingTask(data, cfg, torch.device("cpu"))
    for split in ("valid", "test"):
        blockwise = task.evaluate(model, split)
        model.scores_are_dot_products = lambda: False      # the materialized path
        materialized = task.evaluate(model, split)
        del model.scores_are_dot_products
        assert blockwise == materialized
        assert blockwise["hit@10"] > 0
