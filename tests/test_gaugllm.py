"""GAugLLM end to end with a deterministic test-double LLM on the real Cornell
graph: generation through the response cache (a re-run makes no call; a killed
run resumes with only the missing calls), the expert/context embeddings, the
decisions behind the edge edits, the standalone transform and the GRACE plug-in."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("graphcl.llm.generation")

from _augment_helpers import assert_unchanged, edge_set, is_symmetric, snapshot
from _tag_helpers import FakeLLM, HashEncoder

from graphcl.gaugllm import GAugLLM, GAugLLMSettings, generate_augmentation
from graphcl.gaugllm.edge_modifier import parse_decision
from graphcl.gaugllm.prompt_experts import BUCKETS, EXPERTS, context_texts
from graphcl.llm.answers import tidy_answer
from graphcl.data import load
from graphcl.llm import CachedGenerator, ResponseCache, TextEncoder

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


@pytest.fixture(scope="module")
def emb_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("emb")


@pytest.fixture(scope="module")
def cornell(shared_data, emb_dir):
    return load("webkb-cornell", root=shared_data, encoder=TextEncoder(HashEncoder(), name="hash-32",
                                                                       cache_dir=emb_dir))


def _encoder(emb_dir):
    return TextEncoder(HashEncoder(), name="hash-32", cache_dir=emb_dir)


def _llm(path, **kw):
    return CachedGenerator(FakeLLM(**kw), cache=path, batch_size=4, progress=False)


def test_generation_is_cached_and_rerun_makes_no_call(cornell, emb_dir, tmp_path):
    llm = _llm(tmp_path / "llm.sqlite")
    aug = generate_augmentation(cornell, llm, _encoder(emb_dir))
    n = cornell.num_nodes
    s = aug.stats
    total = s["expert_prompts"] + s["decision_prompts"]
    assert s["expert_prompts"] == 3 * n and s["decision_prompts"] == int((aug.candidates.add >= 0).sum()
                                                                         + (aug.candidates.delete >= 0).sum())
    # identical prompts (nodes with identical texts) are sent once
    assert s["llm_calls"] == llm.calls == s["unique_prompts"] and s["cache_hits"] == 0
    assert total - 5 <= s["unique_prompts"] <= total and s["decision_prompts"] > 0
    again_llm = _llm(tmp_path / "llm.sqlite")
    again = generate_augmentation(cornell, again_llm, _encoder(emb_dir))
    assert again_llm.calls == 0 and again.stats["cache_hits"] == total and again.stats["cache_hit_rate"] == 1.0
    assert again.texts == aug.texts
    torch.testing.assert_close(again.expert_emb, aug.expert_emb)
    assert torch.equal(again.add_ok, aug.add_ok) and torch.equal(again.del_ok, aug.del_ok)
    # offline mode reproduces from the cache alone
    off = CachedGenerator(FakeLLM(), cache=tmp_path / "llm.sqlite", offline=True, progress=False)
    assert generate_augmentation(cornell, off, _encoder(emb_dir)).texts == aug.texts


def test_expert_texts_embeddings_and_contexts(cornell, emb_dir, tmp_path):
    fake = FakeLLM()
    enc = _encoder(emb_dir)
    aug = generate_augmentation(cornell, CachedGenerator(fake, cache=tmp_path / "c.sqlite", progress=False), enc)
    n = cornell.num_nodes
    assert aug.experts == EXPERTS and aug.texts["ORI"] == cornell.text
    assert aug.expert_emb.shape == aug.context_emb.shape == (n, 4, 32)
    torch.testing.assert_close(aug.expert_emb[:, 0], cornell.x)
    torch.testing.assert_close(aug.expert_emb[:, 2], enc.encode(aug.texts["SAS"]))
    # the generated texts are the LLM's answers to the node's own prompt
    idr = aug.prompts["IDR"]
    assert len(idr) == n and set(idr) <= set(fake.prompts) and "Text of a university web page:" in idr[0]
    assert "(student, project, course, staff, faculty)" in idr[0]
    prime = "This university web page is most likely"
    assert idr[0].endswith("Answer: " + prime)
    assert aug.texts["IDR"][0] == tidy_answer(prime, fake.generate([idr[0]], None)[0])
    assert aug.texts["IDR"][0].startswith(prime + " ")
    ctx = context_texts()
    for i in (0, 5, 50):
        want = enc.encode([ctx[(e, BUCKETS[int(aug.bucket[i])])] for e in EXPERTS])
        torch.testing.assert_close(aug.context_emb[i], want)
    assert sum(aug.stats["buckets"].values()) == n


def test_decisions_drive_the_approvals(cornell, emb_dir, tmp_path):
    fake = FakeLLM()
    aug = generate_augmentation(cornell, CachedGenerator(fake, cache=tmp_path / "d.sqlite", progress=False),
                                _encoder(emb_dir), GAugLLMSettings(k_add=2, k_del=2))
    decision_prompts = aug.prompts["decision"]
    assert set(decision_prompts) == {p for p in fake.prompts if "Answer yes or no." in p}
    answers = [parse_decision(a) for a in fake.generate(decision_prompts, None)]
    assert aug.answers["decision"] == fake.generate(decision_prompts, None)
    assert aug.decisions.tolist() == [-1 if a is None else int(a) for a in answers]
    na = int((aug.candidates.add >= 0).sum())
    assert int(aug.add_ok.sum()) == sum(a is True for a in answers[:na])
    assert int(aug.del_ok.sum()) == sum(a is False for a in answers[na:])
    assert aug.stats["undecided"] == sum(a is None for a in answers) > 0
    assert (aug.candidates.add >= 0).sum(1).max() <= 2
    # deletions only for nodes with >= 5 neighbours
    has_del = (aug.candidates.delete >= 0).any(1)
    assert bool((aug.degree[has_del] >= 5).all()) and has_del.any()


def test_empty_answers_fall_back_to_the_original_text(cornell, emb_dir, tmp_path):
    class Mute(FakeLLM):
        def generate(self, prompts, config):
            return ["  " if "Summary:" in p else a for p, a in zip(prompts, super().generate(prompts, config))]

    aug = generate_augmentation(cornell, CachedGenerator(Mute(), cache=tmp_path / "m.sqlite", progress=False),
                                _encoder(emb_dir))
    assert aug.texts["SAS"] == cornell.text and aug.stats["empty_answers"]["SAS"] == cornell.num_nodes
    assert aug.stats["empty_answers"]["IDR"] == 0


def test_chat_generators_get_the_instruction_without_the_cue(cornell, emb_dir, tmp_path):
    fake = FakeLLM(chat=True)
    generate_augmentation(cornell, CachedGenerator(fake, cache=tmp_path / "chat.sqlite", progress=False),
                          _encoder(emb_dir))
    assert not any(p.endswith(("most likely", "web page", "Should they be linked?")) for p in fake.prompts)
    assert any(p.endswith("Answer yes or no.") for p in fake.prompts)


def test_missing_texts_are_refused(cornell):
    data = cornell.clone()
    del data.text
    with pytest.raises(ValueError, match="GAugLLM needs node texts in data.text"):
        generate_augmentation(data, FakeLLM())
    with pytest.raises(ValueError, match="GAugLLM needs node texts"):
        GAugLLM(FakeLLM())(data)


def test_transform_is_seeded_and_never_mutates(cornell, emb_dir, tmp_path):
    llm = CachedGenerator(FakeLLM(), cache=tmp_path / "t.sqlite", progress=False)
    snap, text = snapshot(cornell), list(cornell.text)
    t1 = GAugLLM(llm, _encoder(emb_dir), p_add=1.0, p_del=1.0, seed=3)
    t2 = GAugLLM(llm, _encoder(emb_dir), p_add=1.0, p_del=1.0, seed=3)
    a, b, c = t1(cornell), t2(cornell), t1(cornell)
    assert_unchanged(cornell, snap)
    assert cornell.text == text
    assert llm.calls == t1.prepare(cornell).stats["llm_calls"]  # second transform read the cache
    assert torch.equal(a.edge_index, b.edge_index) and is_symmetric(a.edge_index)
    assert edge_set(a.edge_index) != edge_set(cornell.edge_index)
    aug = t1.prepare(cornell)
    alpha = torch.softmax((aug.expert_emb * aug.context_emb).sum(-1) / 0.2, 1)
    torch.testing.assert_close(a.x, (alpha[..., None] * aug.expert_emb).sum(1))
    assert a.x.shape == cornell.x.shape and c.num_nodes == cornell.num_nodes


def test_grace_plugin_trains_the_gate(cornell, shared_data, emb_dir, tmp_path):
    """The plug-in trains its gate, and its embeddings of WebKB Washington beat the majority class
    (0.463) by a stated margin: 0.04 (5 training seeds gave 0.54-0.59 at these settings; fully
    trained, experiments/results/gaugllm_webkb.md: 0.59). On Cornell GRACE sits at its majority rate."""
    from graphcl.gaugllm.model import GAUGLLM_DEFAULTS, GAugLLMGRACE
    from graphcl.train import Trainer

    washington = load("webkb-washington", root=shared_data, encoder=_encoder(emb_dir))
    majority = float(torch.bincount(washington.y).max()) / washington.num_nodes
    llm = CachedGenerator(FakeLLM(), cache=tmp_path / "g.sqlite", progress=False)

    def build(data, config, device):
        return GAugLLMGRACE(data, config, device, llm=llm, encoder=_encoder(emb_dir))

    cfg = {**GAUGLLM_DEFAULTS, "epochs": 3, "probe_seeds": 5, "probe_train_ratio": 0.6, "probe_val_ratio": 0.2}
    trainer = Trainer("gaugllm", build, washington, cfg, device="cpu", run_dir=tmp_path / "run",
                      verbose=False, progress=False)
    before = [p.detach().clone() for p in trainer.model.gate.parameters()]
    result = trainer.fit()
    assert any(not torch.equal(b, p) for b, p in zip(before, trainer.model.gate.parameters()))
    assert abs(majority - 0.463) < 1e-3
    assert result.test["acc"] > majority + 0.04, (result.test, majority)
    torch.testing.assert_close(trainer.model.x, washington.x)  # text embeddings: not row-normalized
    with pytest.raises(ValueError, match="backbone 'bgrl' is not implemented"):
        GAugLLMGRACE(cornell, {**cfg, "backbone": "bgrl"}, "cpu", llm=llm, encoder=_encoder(emb_dir))


_CHILD = textwrap.dedent("""
    import sys, torch
    sys.path[:0] = [{tests!r}]
    from graphcl.gaugllm import generate_augmentation
    from graphcl.data import load
    from graphcl.llm import CachedGenerator, TextEncoder
    from _tag_helpers import FakeLLM, HashEncoder
    enc = TextEncoder(HashEncoder(), name="hash-32", cache_dir={emb!r})
    data = load("webkb-cornell", root={root!r}, encoder=enc)
    llm = CachedGenerator(FakeLLM(delay=0.02), cache={cache!r}, batch_size=4, progress=False)
    print("started", flush=True)
    generate_augmentation(data, llm, enc)
    print("finished", flush=True)
""")


def test_killed_generation_resumes_with_only_the_missing_calls(cornell, shared_data, emb_dir, tmp_path):
    cache = tmp_path / "kill.sqlite"
    script = _CHILD.format(tests=str(TESTS), emb=str(emb_dir), root=str(shared_data), cache=str(cache))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if cache.exists():
                done = ResponseCache(cache).count()
                if done >= 40:
                    break
        assert proc.poll() is None, f"the child ended before it was killed: {proc.communicate()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    cached = ResponseCache(cache).count()
    assert 40 <= cached < 3 * cornell.num_nodes  # killed half-way through the expert prompts
    llm = CachedGenerator(FakeLLM(), cache=cache, batch_size=4, progress=False)
    resumed = generate_augmentation(cornell, llm, _encoder(emb_dir))
    assert llm.hits >= cached and llm.calls == resumed.stats["unique_prompts"] - cached
    fresh = generate_augmentation(cornell, CachedGenerator(FakeLLM(), cache=tmp_path / "fresh.sqlite",
                                                           progress=False), _encoder(emb_dir))
    assert resumed.texts == fresh.texts and torch.equal(resumed.decisions, fresh.decisions)


def test_chunked_generation_reports_every_chunk(cornell, emb_dir, tmp_path, capsys):
    records = []
    llm = _llm(tmp_path / "chunks.sqlite")
    aug = generate_augmentation(cornell, llm, _encoder(emb_dir), chunk_size=50, log=True,
                                on_chunk=records.append)
    assert "[gaugllm] experts: 50/573 prompts" in capsys.readouterr().err
    assert sum(r["calls"] for r in records) == llm.calls and all(r["seconds"] >= 0 for r in records)
    assert [r["phase"] for r in records].count("experts") == 12  # ceil(573 / 50)
    experts = [p for r in records if r["phase"] == "experts" for p in r["prompts"]]
    assert experts == aug.prompts["IDR"] + aug.prompts["SAS"] + aug.prompts["SAR"]
    decisions = [a for r in records if r["phase"] == "edge decisions" for a in r["answers"]]
    assert decisions == aug.answers["decision"] and records[-1]["config"]["max_tokens"] == 3
    plain = generate_augmentation(cornell, _llm(tmp_path / "plain.sqlite"), _encoder(emb_dir))
    assert plain.texts == aug.texts and torch.equal(plain.decisions, aug.decisions)
