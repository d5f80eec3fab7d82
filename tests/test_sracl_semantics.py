"""SRA-CL's semantic side: item texts, prompts, summaries JSONL files, units,
top-k retrieval, the response cache (a second run makes no LLM call)."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from graphcl.data.interactions import DataFormatError
from graphcl.data.item_text import (
    MissingItemTextError,
    read_item_text_file,
    sequence_item_texts,
)
from graphcl.llm import CachedGenerator, UncachedCallError
from graphcl.llm.summaries import (
    Summaries,
    SummaryFileError,
    SummarySettings,
    item_prompt,
    read_summaries_jsonl,
    user_prompt,
    write_summaries_jsonl,
)
from graphcl.models.seq.sracl_semantics import (
    build_semantics,
    generate_summaries,
    semantic_neighbors,
    semantic_units,
    summaries_from_file,
    summary_prompts,
)
from tests._sracl_helpers import (
    BagOfWords,
    TopicGenerator,
    topic_dataset,
    write_item_texts,
)


@pytest.fixture(scope="module")
def data():
    return topic_dataset()


# --------------------------------------------------------------- item texts
def test_item_text_side_files_csv_and_jsonl(tmp_path, data):
    csv_texts = sequence_item_texts(data, write_item_texts(tmp_path / "items.csv", data))
    assert csv_texts.texts[0] == "thing number 1 about topic1" and len(csv_texts.texts) == data.num_items
    jl = tmp_path / "items.jsonl"
    jl.write_text("".join(json.dumps({"item": i, "text": t}) + "\n"
                          for i, t in enumerate(csv_texts.texts, start=1)))
    assert sequence_item_texts(data, jl).texts == csv_texts.texts


def test_item_text_errors(tmp_path, data):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"item": 1, "text": "a"}\n{"item": 2, "text": \n')
    with pytest.raises(DataFormatError, match=r"bad.jsonl:2: not valid JSON"):
        read_item_text_file(bad)
    short = tmp_path / "short.csv"
    short.write_text("item_id,text\n1,one\n2,two\n")
    with pytest.raises(DataFormatError, match=rf"no text for {data.num_items - 2} of {data.num_items} items"):
        sequence_item_texts(data, short)
    nohead = tmp_path / "nohead.csv"
    nohead.write_text("1,one\n")
    with pytest.raises(DataFormatError, match="header needs an item id column"):
        read_item_text_file(nohead)
    dup = tmp_path / "dup.csv"
    dup.write_text("item_id,text\n1,one\n1,again\n")
    with pytest.raises(DataFormatError, match=r"dup.csv:3: item '1' appears twice"):
        read_item_text_file(dup)
    with pytest.raises(MissingItemTextError, match="no item text"):
        sequence_item_texts(data)


def test_beauty_has_no_item_text_and_says_so(shared_data):
    from graphcl.data import load
    beauty = load("beauty", root=str(shared_data))
    with pytest.raises(MissingItemTextError, match=r"ICLRec files .* hold item ids only.*item_text=FILE"):
        sequence_item_texts(beauty)


def test_ml100k_item_texts_are_title_year_and_genres():
    from graphcl.data import load
    ml = load("ml-100k-seq")
    texts = sequence_item_texts(ml)
    toy = ml.item_tokens.index("1")           # item_id 1 is Toy Story
    assert texts.texts[toy] == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert texts.titles[toy] == "Toy Story (1995)"


# ------------------------------------------------------------------ prompts
def test_prompts_are_completion_style_for_base_models_and_plain_for_chat():
    s, nouns = SummarySettings(user_history=3), ("movie", "viewer", "watched")
    p = user_prompt(["A (1990)", "B (1991)", "C (1992)", "D (1993)"], nouns, s)
    assert "1. B (1991)" in p and "A (1990)" not in p            # the last user_history titles
    assert p.endswith("Answer: This viewer likes")
    chat = user_prompt(["A"], nouns, s, chat=True)
    assert chat.endswith("Answer in one sentence.") and "Answer:" not in chat
    assert item_prompt("Toy Story (1995). Genres: Comedy.", nouns, s).startswith("Movie: Toy Story")
    with pytest.raises(ValueError, match="at least one item title"):
        user_prompt([], nouns, s)


# -------------------------------------------------------------------- units
def test_units_user_and_prefix_level(data):
    ends, starts = data.train_targets()
    users = semantic_units(data, "user")
    ex_user = torch.searchsorted(data.offsets, starts, right=True) - 1
    assert torch.equal(users.users[users.example_unit], ex_user)
    assert torch.equal(users.ends - users.starts, data.train_lengths()[users.users])
    pre = semantic_units(data, "prefix")
    assert len(pre) == ends.numel() and torch.equal(pre.ends, ends)
    assert pre.keys[0] == ("0", 1) and pre.keys[1] == ("0", 2)
    with pytest.raises(ValueError, match="'user' or 'prefix'"):
        semantic_units(data, "session")


# ---------------------------------------------------------------- retrieval
@pytest.mark.parametrize("block", [3, 1024])
def test_topk_retrieval_excludes_self_and_matches_a_dense_reference(block):
    emb = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    got = semantic_neighbors(emb, 5, block_size=block)
    z = F.normalize(emb, dim=1)
    dense = z @ z.T
    dense.fill_diagonal_(float("-inf"))
    ref = dense.topk(5, dim=1).indices
    assert torch.equal(got, ref)
    assert not bool((got == torch.arange(50).unsqueeze(1)).any())
    with pytest.raises(ValueError, match="k must be in"):
        semantic_neighbors(emb, 50)


def test_item_neighbors_in_semantics_are_1_based_without_self(data, tmp_path):
    units = semantic_units(data)
    sem = build_semantics(data, units, k=4, unit_texts=[f"u{i}" for i in range(len(units))],
                          item_texts=[f"thing topic{i % 4}" for i in range(1, data.num_items + 1)],
                          encoder=BagOfWords())
    nb = sem.item_neighbors
    assert nb.shape == (data.num_items + 1, 4) and bool((nb[0] == 0).all())
    assert int(nb[1:].min()) >= 1 and not bool((nb[1:] == torch.arange(1, data.num_items + 1)[:, None]).any())
    # the nearest items share the topic word: items i and j with i % 4 == j % 4
    same = (nb[1:] % 4) == (torch.arange(1, data.num_items + 1)[:, None] % 4)
    assert bool(same.all())


def test_fallback_semantics_are_labelled_not_llm(data):
    sem = build_semantics(data, semantic_units(data), k=5)
    assert "NOT LLM semantics" in sem.kind
    assert sem.unit_neighbors.shape == (len(sem.units), 5)
    # cyclic data: item i's training co-occurrence neighbours are nearby ids
    dist = (sem.item_neighbors[1:] - torch.arange(1, data.num_items + 1)[:, None]).abs()
    dist = torch.minimum(dist, data.num_items - dist)
    assert float(dist.float().mean()) < data.num_items / 4


# ------------------------------------------------------------ summaries JSONL
def test_summaries_jsonl_round_trip(tmp_path):
    s = Summaries(users={"7": "likes a"}, items={"3": "is b", "x": "ünïcode"},
                  prefixes={("7", 2): "likes c"})
    path = tmp_path / "s.jsonl"
    write_summaries_jsonl(path, s)
    back = read_summaries_jsonl(path)
    assert back == s
    path.write_text('{"user": 7, "summary": "x"}\n\n{"item": 3, "summary": " y "}\n')
    back = read_summaries_jsonl(path)
    assert back.users == {"7": "x"} and back.items == {"3": "y"}


@pytest.mark.parametrize("line, message", [
    ('{"user": 1, "summary": "a"', "not valid JSON"),
    ('[1, 2]', "expected a JSON object"),
    ('{"summary": "a"}', "exactly one of 'user' or 'item'"),
    ('{"user": 1, "item": 2, "summary": "a"}', "exactly one of 'user' or 'item'"),
    ('{"user": 1}', "'summary' must be a non-empty string"),
    ('{"user": 1, "summary": "  "}', "'summary' must be a non-empty string"),
    ('{"user": 1, "summary": "a", "extra": 1}', "unknown keys"),
    ('{"user": 1, "length": 0, "summary": "a"}', "'length' must be a positive integer"),
    ('{"item": 1, "length": 2, "summary": "a"}', "'length' belongs to user prefix"),
    ('{"user": null, "summary": "a"}', "user id must be"),
])
def test_summaries_jsonl_malformed_lines(tmp_path, line, message):
    path = tmp_path / "s.jsonl"
    path.write_text('{"item": 9, "summary": "ok"}\n' + line + "\n")
    with pytest.raises(SummaryFileError, match=rf"s.jsonl:2: .*{message}"):
        read_summaries_jsonl(path)


def test_summaries_jsonl_duplicates_missing_file_and_missing_ids(tmp_path, data):
    path = tmp_path / "s.jsonl"
    path.write_text('{"item": 1, "summary": "a"}\n{"item": "1", "summary": "b"}\n')
    with pytest.raises(SummaryFileError, match=r":2: a second summary for item '1'"):
        read_summaries_jsonl(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_summaries_jsonl(tmp_path / "none.jsonl")
    units = semantic_units(data)
    full = Summaries(users={k: f"user {k}" for k in units.keys},
                     items={str(i): f"item {i}" for i in range(1, data.num_items + 1)})
    unit_texts, item_texts = summaries_from_file(data, units, full)
    assert unit_texts[3] == f"user {units.keys[3]}" and item_texts[0] == "item 1"
    short = Summaries(users=dict(list(full.users.items())[2:]), items=full.items)
    with pytest.raises(SummaryFileError, match=rf"no summary for 2 of {len(units)} users .*first missing: \['0', '1'\]"):
        summaries_from_file(data, units, short)
    with pytest.raises(SummaryFileError, match=r"no summary for 1 of 24 items .*\['24'\]"):
        summaries_from_file(data, units, Summaries(users=full.users,
                                                   items={k: v for k, v in full.items.items() if k != "24"}))
    with pytest.raises(SummaryFileError, match="not units of"):
        summaries_from_file(data, units, Summaries(users={**full.users, "999": "x"}, items=full.items))
    with pytest.raises(SummaryFileError, match="no user prefix summaries"):
        summaries_from_file(data, semantic_units(data, "prefix"), full)


# ------------------------------------------------------------- LLM + cache
def test_generate_summaries_through_the_cache_second_run_makes_no_call(tmp_path, data):
    item_text = sequence_item_texts(data, write_item_texts(tmp_path / "items.csv", data))
    units = semantic_units(data)
    cache = tmp_path / "responses.sqlite"
    first_double = TopicGenerator()
    first = CachedGenerator(first_double, cache, progress=False)
    s1, stats1 = generate_summaries(data, units, item_text, first)
    unit_prompts, item_prompts = summary_prompts(data, units, item_text, SummarySettings())
    unique = len(set(unit_prompts + item_prompts))        # equal prompts are asked once
    assert 0 < unique < len(units) + data.num_items
    assert stats1["llm_calls"] == unique == len(first_double.prompts)
    assert sorted(first_double.prompts) == sorted(set(unit_prompts + item_prompts))
    # prime + answer: "This user likes topic1 and topic2."
    assert s1.users[units.keys[0]].startswith("This user likes topic")
    assert s1.items["5"] == "This item is topic1."
    second_double = TopicGenerator()
    second = CachedGenerator(second_double, cache, progress=False)
    s2, stats2 = generate_summaries(data, units, item_text, second)
    assert second_double.prompts == [] and stats2["llm_calls"] == 0
    assert stats2["cache_hits"] == len(units) + data.num_items
    assert s2 == s1
    offline = CachedGenerator(TopicGenerator(), cache, offline=True, progress=False)
    assert generate_summaries(data, units, item_text, offline)[0] == s1
    other = CachedGenerator(TopicGenerator(), tmp_path / "empty.sqlite", offline=True, progress=False)
    with pytest.raises(UncachedCallError, match="offline mode"):
        generate_summaries(data, units, item_text, other)


def test_summary_orders_give_the_same_summaries(tmp_path, data):
    """Every ``order`` (phase first, ``*-reversed``: each phase from its last prompt, for a second
    worker on the same cache) maps the same answers to the same users and items."""
    item_text = sequence_item_texts(data, write_item_texts(tmp_path / "items.csv", data))
    units = semantic_units(data)
    unit_prompts, item_prompts = summary_prompts(data, units, item_text, SummarySettings())
    results = {}
    for order in ("users-first", "items-first", "users-first-reversed", "items-first-reversed"):
        double = TopicGenerator()
        llm = CachedGenerator(double, tmp_path / f"{order}.sqlite", progress=False)
        results[order] = generate_summaries(data, units, item_text, llm, order=order)[0]
        first = {"users-first": unit_prompts[0], "items-first": item_prompts[0],
                 "users-first-reversed": unit_prompts[-1], "items-first-reversed": item_prompts[-1]}[order]
        assert double.prompts[0] == first
    assert all(r == results["users-first"] for r in results.values())
    with pytest.raises(ValueError, match="order must be one of"):
        generate_summaries(data, units, item_text, CachedGenerator(TopicGenerator(), tmp_path / "x.sqlite",
                                                                   progress=False), order="random")


def test_empty_answers_fall_back_to_the_prompt_text_and_are_counted(tmp_path, data):
    texts = tmp_path / "items.csv"
    texts.write_text("item_id,text\n" + "".join(f"{i},plain thing {i}\n" for i in range(1, 25)))
    item_text = sequence_item_texts(data, texts)
    llm = CachedGenerator(TopicGenerator(), tmp_path / "c.sqlite", progress=False)
    s, stats = generate_summaries(data, semantic_units(data), item_text, llm)
    assert stats["empty_answers"] == {"users": 60, "items": 24}
    assert s.items["3"] == "plain thing 3"
    assert s.users["0"].startswith("plain thing")
