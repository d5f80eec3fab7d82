"""GAugLLM's parts without an LLM: degree buckets, prompts, the gate, edge
candidates (against brute force), answer parsing and the vectorized edge edits."""
from __future__ import annotations

import math

import pytest
import torch
from _augment_helpers import edge_set, is_symmetric
from hypothesis import given, settings
from hypothesis import strategies as st

from graphcl.gaugllm.edge_modifier import (
    EdgeCandidates,
    apply_edge_edits,
    common_neighbor_counts,
    decision_prompts,
    edge_candidates,
    edits_per_node,
    parse_decision,
)
from graphcl.gaugllm.expert_gate import ExpertGate
from graphcl.gaugllm.prompt_experts import (
    PromptSettings,
    answer_primes,
    clean_text,
    context_texts,
    degree_buckets,
    expert_prompts,
    shorten,
    top_similar_neighbors,
    undirected_degree,
)
from graphcl.llm.answers import tidy_answer


def _random_graph(n: int, m: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    e = torch.randint(n, (2, m), generator=g)
    return torch.cat([e, e.flip(0)], 1)


def _neighbors(ei: torch.Tensor, n: int) -> list[set[int]]:
    out = [set() for _ in range(n)]
    for a, b in ei.t().tolist():
        if a != b:
            out[a].add(b)
            out[b].add(a)
    return out


def test_degree_buckets_follow_the_percentiles():
    deg = torch.tensor([0, 1, 1, 2, 2, 3, 4, 5, 8, 20])
    q40, q80 = torch.quantile(deg.float(), 0.4), torch.quantile(deg.float(), 0.8)  # 2.0, 5.6
    assert float(q40) == 2.0 and math.isclose(float(q80), 5.6, rel_tol=1e-6)
    assert degree_buckets(deg).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 2, 2]
    assert degree_buckets(torch.full((4,), 3)).tolist() == [0, 0, 0, 0]  # tie: tail wins
    with pytest.raises(ValueError, match="tail_q <= head_q"):
        degree_buckets(deg, 0.9, 0.5)


def test_undirected_degree_ignores_loops_and_duplicates():
    ei = torch.tensor([[0, 0, 1, 2, 2, 3], [1, 1, 0, 2, 3, 2]])
    assert undirected_degree(ei, 5).tolist() == [1, 1, 1, 1, 0]


def test_prompts_are_short_completion_or_chat():
    texts = ["Intro;;  to   CS; course " + "word " * 400, "Alice home page " + "x" * 500, "Bob", "Carol"]
    nbrs = torch.tensor([[1, 2, 3], [0, -1, -1], [-1, -1, -1], [0, -1, -1]])
    s = PromptSettings("web page", ("course", "student"), max_text_chars=800, max_neighbor_chars=200)
    comp = expert_prompts(texts, nbrs, s)
    chat = expert_prompts(texts, nbrs, s, chat=True)
    assert comp["SAS"][0].endswith("\nSummary: This web page")
    assert comp["IDR"][0].endswith("\nAnswer: This web page is most likely")
    assert comp["SAR"][0].endswith("\nAnswer: Given its links, this web page is most likely")
    assert not chat["SAS"][0].endswith("Summary:") and chat["SAS"][0] == comp["SAS"][0].rsplit("\n", 1)[0]
    own = comp["IDR"][0].split("Text of a web page: ", 1)[1].split("\n", 1)[0]
    assert len(own) <= 800 and own.endswith("...") and own.startswith("Intro; to CS; course")
    assert "(course, student)" in comp["IDR"][0] and "Bob" not in comp["IDR"][0]
    assert tidy_answer("This page is", " a course. It is a course. It is  a course.\n") == \
        "This page is a course. It is a course."
    assert tidy_answer("This page", "s list homework.") == "This pages list homework."
    assert tidy_answer("This page is", " \n ") == "" and tidy_answer("", "Plain.") == "Plain."
    assert answer_primes(s, chat=True) == {"IDR": "", "SAS": "", "SAR": ""}
    lines = comp["SAS"][0].split("Linked web pages:\n", 1)[1].split("\n\n")[0].split("\n")
    assert len(lines) == 3 and all(len(ln) <= 3 + 200 for ln in lines)
    assert "Linked web pages: none." in comp["SAS"][2]
    assert len(comp["SAS"][0]) < 800 + 3 * 210 + 300  # bounded prompt size
    assert clean_text(" a ;; b ;\n c ") == "a; b; c" and shorten("ab cd ef", 100) == "ab cd ef"
    ctx = context_texts()
    assert len(ctx) == 12 and len(set(ctx.values())) == 12


def test_top_similar_neighbors_matches_brute_force():
    n = 12
    ei = _random_graph(n, 30, 3)
    emb = torch.randn(n, 6, generator=torch.Generator().manual_seed(1))
    got = top_similar_neighbors(emb, ei, 3)
    z = torch.nn.functional.normalize(emb, dim=1)
    for i, nb in enumerate(_neighbors(ei, n)):
        want = sorted(nb, key=lambda j: (-float(z[i] @ z[j]), j))[:3]
        assert got[i].tolist() == want + [-1] * (3 - len(want))


@given(n=st.integers(2, 25), m=st.integers(0, 60), seed=st.integers(0, 1000),
       k_add=st.integers(0, 4), k_del=st.integers(0, 4), block=st.sampled_from([1, 3, 64]))
@settings(max_examples=40, deadline=None)
def test_edge_candidates_match_brute_force(n, m, seed, k_add, k_del, block):
    ei = _random_graph(n, m, seed)
    emb = torch.randn(n, 5, generator=torch.Generator().manual_seed(seed + 1))
    cand = edge_candidates(emb, ei, k_add=k_add, k_del=k_del, min_degree_delete=3, max_edits=10,
                           block_size=block)
    z = torch.nn.functional.normalize(emb, dim=1)
    sim = (z @ z.T).tolist()
    nbrs = _neighbors(ei, n)
    for i in range(n):
        deg = len(nbrs[i])
        others = [j for j in range(n) if j != i and j not in nbrs[i]]
        n_add = min(k_add, deg, len(others))
        want_add = sorted(others, key=lambda j: (-sim[i][j], j))[:n_add]
        got_add = [j for j in cand.add[i].tolist() if j >= 0]
        assert got_add == want_add, (i, got_add, want_add)
        n_del = min(k_del, deg) if deg >= 3 else 0
        want_del = sorted(nbrs[i], key=lambda j: (sim[i][j], j))[:n_del]
        assert [j for j in cand.delete[i].tolist() if j >= 0] == want_del


def test_common_neighbors_and_decision_prompts():
    ei = _random_graph(15, 40, 7)
    nbrs = _neighbors(ei, 15)
    a = torch.tensor([0, 1, 2, 3, 14, 5])
    b = torch.tensor([1, 2, 3, 3, 0, 9])
    got = common_neighbor_counts(ei, 15, a, b).tolist()
    assert got == [len(nbrs[i] & nbrs[j]) for i, j in zip(a.tolist(), b.tolist())]
    texts = [f"page {i} " + "y" * 400 for i in range(15)]
    ps = PromptSettings("web page", max_neighbor_chars=200)
    prompts = decision_prompts(texts, a[:2], b[:2], torch.tensor([2, 1]), torch.tensor([True, False]), ps)
    tail = prompts[0].rsplit("\n\n", 1)[1]
    assert tail.startswith("Web page A: page 0 y") and "Web page B: page 1 y" in tail
    assert tail.endswith("Linked now: yes. Common linked web pages: 2.\nShould they be linked?")
    assert prompts[1].endswith("Linked now: no. Common linked web pages: 1.\nShould they be linked?")
    head = prompts[0].rsplit("\n\n", 1)[0]
    assert head == prompts[1].rsplit("\n\n", 1)[0]  # the same two examples, one yes and one no
    assert head.count("Should they be linked? yes") == 1 and head.count("Should they be linked? no") == 1
    assert len(tail) < 2 * 215 + 120 and len(prompts[0]) < len(tail) + 700
    chat = decision_prompts(texts, a[:1], b[:1], torch.tensor([2]), torch.tensor([True]), ps, chat=True)
    assert chat[0] == prompts[0] + " Answer yes or no."


@pytest.mark.parametrize("answer, want", [
    (" Yes", True), ("yes.", True), ("YES, they are", True), ("\n no", False), ("No.", False),
    ("**Yes**", True), ('"no"', False), ("maybe", None), ("", None), ("  ", None), ("nothing", None),
    ("yesterday", None),
])
def test_parse_decision(answer, want):
    assert parse_decision(answer) is want


def test_gate_is_the_tempered_softmax_of_mlp_plus_context_score():
    torch.manual_seed(0)
    gate = ExpertGate(8, hidden=5, tau=0.2)
    h, c = torch.randn(6, 4, 8), torch.randn(6, 4, 8)
    g = gate.mlp(h).squeeze(-1) + (h * c).sum(-1)
    alpha = torch.softmax(g / 0.2, dim=1)
    torch.testing.assert_close(gate.weights(h, c), alpha)
    torch.testing.assert_close(gate(h, c), (alpha[..., None] * h).sum(1))
    gate(h, c).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gate.parameters())
    plain = ExpertGate(8, use_mlp=False, tau=0.2)
    torch.testing.assert_close(plain.weights(h, c), torch.softmax((h * c).sum(-1) / 0.2, 1))
    with pytest.raises(ValueError, match="temperature"):
        ExpertGate(8, tau=0)
    with pytest.raises(ValueError, match=r"\(N, K, d\)"):
        gate(h, c[:, :3])


def test_edits_per_node_rounds_half_to_even_and_caps():
    deg = torch.tensor([0, 1, 2, 3, 5, 30, 100])
    assert edits_per_node(deg, 0.5).tolist() == [0, 0, 1, 2, 2, 10, 10]
    assert edits_per_node(deg, 0.0).tolist() == [0] * 7
    with pytest.raises(ValueError, match="probability"):
        edits_per_node(deg, 1.5)


def _edit_setup(seed: int = 0, n: int = 30):
    ei = _random_graph(n, 70, seed)
    emb = torch.randn(n, 6, generator=torch.Generator().manual_seed(seed))
    cand = edge_candidates(emb, ei, k_add=4, k_del=4, min_degree_delete=4)
    g = torch.Generator().manual_seed(seed + 5)
    add_ok = (torch.rand(cand.add.shape, generator=g) < 0.7) & (cand.add >= 0)
    del_ok = (torch.rand(cand.delete.shape, generator=g) < 0.7) & (cand.delete >= 0)
    return ei, cand, add_ok, del_ok


def _stars():
    """5 anchors, each linked to 6 private leaves; anchor i's addition candidates are 4
    leaves of anchor i+1, its deletion candidates 4 of its own leaves; anchor i
    approves i of its additions and 4 - i of its deletions."""
    n = 5 + 30
    leaves = [[5 + 6 * i + t for t in range(6)] for i in range(5)]
    e = torch.tensor([[i, j] for i in range(5) for j in leaves[i]]).t()
    ei = torch.cat([e, e.flip(0)], 1)
    add = torch.full((n, 4), -1, dtype=torch.long)
    dele = torch.full((n, 4), -1, dtype=torch.long)
    add_ok = torch.zeros(n, 4, dtype=torch.bool)
    del_ok = torch.zeros(n, 4, dtype=torch.bool)
    for i in range(5):
        add[i] = torch.tensor(leaves[(i + 1) % 5][:4])
        dele[i] = torch.tensor(leaves[i][:4])
        add_ok[i, :i] = True
        del_ok[i, :4 - i] = True
    return n, ei, EdgeCandidates(add, dele), add_ok, del_ok


@pytest.mark.parametrize("p, seed", [(0.5, 0), (0.5, 1), (1.0, 2), (0.34, 3)])
def test_apply_edge_edits_applies_exactly_the_counted_approved_edits(p, seed):
    n, ei, cand, add_ok, del_ok = _stars()
    before = ei.clone()
    out = apply_edge_edits(ei, n, cand, add_ok, del_ok, p, p, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(ei, before) and is_symmetric(out)
    old, new = edge_set(ei), edge_set(out)
    cap = int(edits_per_node(torch.tensor([6]), p))  # every anchor has degree 6
    for i in range(5):
        approved_add = {(i, int(j)) for j in cand.add[i][add_ok[i]]}
        approved_del = {(i, int(j)) for j in cand.delete[i][del_ok[i]]}
        added = {(a, b) for a, b in new - old if a == i}
        removed = {(a, b) for a, b in old - new if a == i}
        assert added <= approved_add and removed <= approved_del
        assert len(added) == min(cap, len(approved_add)) and len(removed) == min(cap, len(approved_del))
    # nothing else changes
    touched = {(a, b) for a, b in new ^ old}
    assert all(a < 5 or b < 5 for a, b in touched)


def test_apply_edge_edits_seeded_and_no_op_at_zero():
    ei, cand, add_ok, del_ok = _edit_setup(4)
    a = apply_edge_edits(ei, 30, cand, add_ok, del_ok, 0.5, 0.5, generator=torch.Generator().manual_seed(3))
    b = apply_edge_edits(ei, 30, cand, add_ok, del_ok, 0.5, 0.5, generator=torch.Generator().manual_seed(3))
    c = apply_edge_edits(ei, 30, cand, add_ok, del_ok, 0.5, 0.5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    zero = apply_edge_edits(ei, 30, cand, add_ok, del_ok, 0.0, 0.0)
    assert edge_set(zero) == edge_set(ei)
    none = apply_edge_edits(ei, 30, cand, torch.zeros_like(add_ok), torch.zeros_like(del_ok), 1.0, 1.0)
    assert edge_set(none) == edge_set(ei)
    with pytest.raises(ValueError, match="shapes of the candidate tables"):
        apply_edge_edits(ei, 30, cand, add_ok[:, :2], del_ok, 0.5, 0.5)
    with pytest.raises(ValueError, match="out of range"):
        apply_edge_edits(ei, 5, cand, add_ok, del_ok, 0.5, 0.5)
    empty = EdgeCandidates(torch.zeros(30, 0, dtype=torch.long), torch.zeros(30, 0, dtype=torch.long))
    flat = apply_edge_edits(ei, 30, empty, torch.zeros(30, 0, dtype=torch.bool),
                            torch.zeros(30, 0, dtype=torch.bool), 1.0, 1.0)
    assert edge_set(flat) == edge_set(ei)


def test_candidates_only_for_nodes_that_can_be_edited_at_the_training_rate():
    ei = _random_graph(40, 70, 11)
    emb = torch.randn(40, 6, generator=torch.Generator().manual_seed(2))
    deg = undirected_degree(ei, 40)
    full = edge_candidates(emb, ei, min_degree_delete=3)
    lim = edge_candidates(emb, ei, min_degree_delete=3, p_add=0.5, p_del=0.2)
    can_add = edits_per_node(deg, 0.5) > 0      # degree >= 2 at p = 0.5
    can_del = edits_per_node(deg, 0.2) > 0      # degree >= 3 at p = 0.2 (round(0.6) = 1)
    assert torch.equal(lim.add[can_add], full.add[can_add]) and bool((lim.add[~can_add] == -1).all())
    assert torch.equal(lim.delete[can_del], full.delete[can_del]) and bool((lim.delete[~can_del] == -1).all())
    assert bool(((deg == 1) & (full.add[:, 0] >= 0)).any())  # degree-1 nodes lose their candidates
