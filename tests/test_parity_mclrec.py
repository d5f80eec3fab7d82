"""The MCLRec parity adapter's conversion and parsing (experiments/parity/adapters/mclrec.py,
experiments/parity/seqhook.py). No checkout, no network: small files and logs written here.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.parity import seqhook  # noqa: E402
from experiments.parity.adapter import load_adapter  # noqa: E402
from experiments.parity.adapters.mclrec import (parse_mclrec_log, recbole_examples_from_lines,  # noqa: E402
                                                write_inter)
from graphcl.data.sequences import read_sequence_lines  # noqa: E402


def _lines(num_users: int = 40, num_items: int = 25, seed: int = 0, short: bool = False) -> list[str]:
    """ICLRec lines whose users have 5-70 items and every item >= 5 interactions (a 5-core file,
    as Beauty), users not in numeric order and item tokens not 1..n; ``short`` adds a 3-item user."""
    rng = random.Random(seed)
    users = rng.sample(range(100, 100 + 3 * num_users), num_users)
    lines = []
    for k, u in enumerate(users):
        n = 70 if k == 0 else rng.randint(5, 14)  # one user longer than max_len = 50
        lines.append(" ".join([str(u)] + [str(7 * rng.randrange(num_items) + 3) for _ in range(n)]))
    if short:
        lines.append("999 3 10 17")
    return lines


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "Tiny.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_our_split_equals_recbole_reading(tmp_path: Path) -> None:
    lines = _lines()
    ours = seqhook.examples_of(read_sequence_lines(_write(tmp_path, lines)), max_len=50)
    theirs = recbole_examples_from_lines(lines, max_len=50)
    check = seqhook.compare_examples(ours, theirs)
    assert all(v["same"] for v in check.values()), check
    n = sum(len(line.split()) - 1 for line in lines)
    assert check["train"]["ours"] == n - 3 * len(lines)
    assert check["valid"]["ours"] == check["test"]["ours"] == len(lines)
    # the long user's inputs keep their last 50 items
    assert max(len(x) for _, x, _ in ours["train"]) == 50
    # same ORDER too where it is defined: per user, valid then test are the last two targets
    first = lines[0].split()
    assert (first[0], tuple(first[1:-2][-50:]), first[-2]) in ours["valid"]
    assert (first[0], tuple(first[1:-1][-50:]), first[-1]) in ours["test"]


def test_split_check_catches_differences(tmp_path: Path) -> None:
    lines = _lines(seed=1)
    ours = seqhook.examples_of(read_sequence_lines(_write(tmp_path, lines)), max_len=50)
    # a user with 3 items: RecBole's 5-core filter drops it (graphcl keeps it)
    theirs = recbole_examples_from_lines(lines + ["999 3 10 17"], max_len=50)
    assert all(v["same"] for v in seqhook.compare_examples(ours, theirs).values())
    ours_short = seqhook.examples_of(read_sequence_lines(_write(tmp_path, lines + ["999 3 10 17"])), 50)
    check = seqhook.compare_examples(ours_short, theirs)
    assert not check["valid"]["same"] and not check["test"]["same"]
    # without the filter, RecBole gives a 3-item user a train example and a test example but no valid one
    nofilter = recbole_examples_from_lines(lines + ["999 3 10 17"], 50, min_user=None, min_item=None)
    assert ("999", ("3",), "10") in nofilter["train"]
    assert ("999", ("3", "10"), "17") in nofilter["test"]
    assert not [e for e in nofilter["valid"] if e[0] == "999"]
    assert ("999", ("3",), "10") in ours_short["valid"]
    # a different max length is a different split
    check = seqhook.compare_examples(ours, recbole_examples_from_lines(lines, max_len=20))
    assert not check["train"]["same"] and "example_diff" in check["train"]


def test_kcore_filter_is_iterative() -> None:
    # item 'x' has 5 interactions, but user 'b' (4 items) is dropped first, leaving 'x' with 4
    lines = ["a x 1 2 3 4", "b x 5 6 7", "c x 1 2 3 4", "d x 1 2 3 4", "e x 1 2 3 4",
             "f 1 2 3 4 9", "g 9 9 9 9 9"]
    out = recbole_examples_from_lines(lines, max_len=50)
    users = {u for split in out.values() for u, _, _ in split}
    assert "b" not in users
    assert not any("x" in x or y == "x" for split in out.values() for _, x, y in split)


def test_inter_file_round_trip(tmp_path: Path) -> None:
    lines = _lines(seed=2)
    data = read_sequence_lines(_write(tmp_path, lines))
    inter = tmp_path / "tiny.inter"
    write_inter(inter, data)
    text = inter.read_text(encoding="utf-8").splitlines()
    assert text[0] == "user_id:token\titem_id:token"
    # the authors' data_process.py layout: one (user, item) line per interaction in file order
    expect = [f"{p[0]}\t{i}" for line in lines for p in [line.split()] for i in p[1:]]
    assert text[1:] == expect


def test_seq_npz_round_trip(tmp_path: Path) -> None:
    data = read_sequence_lines(_write(tmp_path, _lines(seed=3)))
    back = seqhook.read_seq_npz(seqhook.write_seq_npz(tmp_path / "s.npz", data))
    assert torch.equal(back.items, data.items) and torch.equal(back.offsets, data.offsets)
    assert back.item_tokens == data.item_tokens and back.user_tokens == data.user_tokens


def test_token_scorer_relayout_and_columns() -> None:
    # our ids 1..3 map to reference ids 3, 1, 2; the fake encoder returns the sum of its
    # right-padded input's position-weighted ids, so a wrong layout or map changes the scores
    ref_ids = torch.tensor([0, 3, 1, 2])
    table = torch.eye(4)

    class Fake(torch.nn.Module):
        def forward(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            assert bool((seq[:, 0] != 0).all())  # right-padded: the first position is real
            return table[seq[torch.arange(seq.size(0)), lengths - 1]]  # last real item's one-hot

    model = Fake()
    scorer = seqhook.TokenScorer(model, model.forward, lambda: table, ref_ids)
    seqs = torch.tensor([[0, 0, 1, 2], [3, 1, 2, 3]])  # left-padded, our ids
    lengths = torch.tensor([2, 4])
    assert scorer.relayout(seqs, lengths).tolist() == [[1, 2, 0, 0], [3, 1, 2, 3]]
    scores = scorer.score(seqs, lengths)
    # row 0: last item is our 2 (ref 1) -> column of our item 2 (index 1); row 1: our 3 -> index 2
    assert scores.argmax(1).tolist() == [1, 2]


_LOG = """\
PARITY_CHECK {"train": {"ours": 3, "reference": 3, "same": true}}
\x1b[1;32mepoch 0 training\x1b[0m [\x1b[1;34mtime\x1b[0m: 20.00s, \x1b[1;34mtrain loss\x1b[0m: 9000.1]
PARITY_JSON {"epoch": 0, "train_seconds": 20.0, "loss": 17.5, "valid": {"ndcg@10": 0.01, "hit@10": 0.02}, "test": {"ndcg@10": 0.009, "hit@10": 0.018}}
07 Dec 04:20    INFO  \x1b[1;32mepoch 0 evaluating\x1b[0m [\x1b[1;34mtime\x1b[0m: 9.10s, \x1b[1;34mvalid_score\x1b[0m: 0.007100]
07 Dec 04:20    INFO  \x1b[1;34mvalid result\x1b[0m: 
recall@5 : 0.0123    recall@10 : 0.0201    recall@20 : 0.0333    recall@50 : 0.05    mrr@5 : 0.006    mrr@10 : 0.0071    mrr@20 : 0.008    mrr@50 : 0.0085    ndcg@5 : 0.0077    ndcg@10 : 0.0102    ndcg@20 : 0.0135    ndcg@50 : 0.0177    precision@5 : 0.0025    precision@10 : 0.002    precision@20 : 0.0017    precision@50 : 0.001    
PARITY_JSON {"epoch": 1, "train_seconds": 19.0, "loss": 16.0, "valid": {"ndcg@10": 0.02, "hit@10": 0.03}, "test": {"ndcg@10": 0.019, "hit@10": 0.028}}
07 Dec 04:21    INFO  \x1b[1;32mepoch 1 evaluating\x1b[0m [\x1b[1;34mtime\x1b[0m: 9.00s, \x1b[1;34mvalid_score\x1b[0m: 0.009000]
07 Dec 04:21    INFO  \x1b[1;34mvalid result\x1b[0m: 
recall@5 : 0.02    recall@10 : 0.0301    recall@20 : 0.0444    recall@50 : 0.06    mrr@5 : 0.007    mrr@10 : 0.009    mrr@20 : 0.0099    mrr@50 : 0.01    ndcg@5 : 0.0087    ndcg@10 : 0.0199    ndcg@20 : 0.0235    ndcg@50 : 0.0277    precision@5 : 0.004    precision@10 : 0.003    precision@20 : 0.0022    precision@50 : 0.0012    
07 Dec 04:21    INFO  Loading model structure and parameters from ./log/MCLRec/model.pth
07 Dec 04:21    INFO  \x1b[1;33mbest valid \x1b[0m: {'recall@10': 0.0301, 'ndcg@10': 0.0199}
07 Dec 04:21    INFO  \x1b[1;33mtest result\x1b[0m: {'recall@5': 0.018, 'recall@10': np.float64(0.029), 'recall@20': 0.041, 'recall@50': 0.06, 'mrr@10': 0.0085, 'ndcg@10': 0.0188, 'ndcg@20': 0.022, 'precision@10': 0.003}
"""


def test_parse_log() -> None:
    recs = parse_mclrec_log(_LOG)
    assert [r["epoch"] for r in recs] == [0, 1]
    assert recs[0]["own"]["valid"] == {"hit@10": 0.0201, "hit@20": 0.0333, "mrr@10": 0.0071,
                                       "mrr@20": 0.008, "ndcg@10": 0.0102, "ndcg@20": 0.0135}
    assert recs[1]["own"]["valid"]["ndcg@10"] == 0.0199
    assert "final_test" not in recs[0].get("own", {})
    assert recs[1]["own"]["final_test"] == {"hit@10": 0.029, "hit@20": 0.041, "mrr@10": 0.0085,
                                            "ndcg@10": 0.0188, "ndcg@20": 0.022}
    assert recs[1]["test"]["hit@10"] == 0.028  # the hook's record is kept as is
    # a log cut before the end: no final test
    assert "final_test" not in parse_mclrec_log(_LOG.split("Loading model")[0])[-1].get("own", {})


def test_adapter_settings_match_ours() -> None:
    from graphcl.models.seq.mclrec import MCLREC_DEFAULTS
    from graphcl.registry import get_method
    adapter = load_adapter("mclrec")
    cfg = adapter.ours_config("beauty")
    preset = get_method("mclrec").presets["beauty"]
    assert cfg["lmd"] == preset["lmd"] and cfg["beta"] == preset["beta"]
    assert set(cfg) <= set(MCLREC_DEFAULTS), sorted(set(cfg) - set(MCLREC_DEFAULTS))
    assert adapter.metrics[0] == "mrr@10" and adapter.task == "sequential"
    with pytest.raises(KeyError):
        adapter.hyper("sports")
