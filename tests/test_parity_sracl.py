"""The SRA-CL parity adapter's conversion and parsing (experiments/parity/adapters/sracl.py): graphcl's
sequences and user-level semantic embeddings written in the reference's format and read back the way
the reference reads them. No checkout, no network, no text encoder: synthetic data and a log snippet.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.parity.adapters import sracl  # noqa: E402
from experiments.parity.summary import parse_records  # noqa: E402
from graphcl.data.sequences import SequenceDataset  # noqa: E402
from graphcl.models.seq.sracl_semantics import semantic_units  # noqa: E402

MAX_LEN = 4


def _dataset(seed: int = 0) -> SequenceDataset:
    g = torch.Generator().manual_seed(seed)
    lengths = [9, 3, 2, 1, 6, 12]  # 2 items: a test target only; 1 item: nothing to predict
    items = torch.randint(1, 16, (sum(lengths),), generator=g)
    items[:15] = torch.arange(1, 16)  # every item id 1..15 occurs
    offsets = torch.tensor([0] + lengths).cumsum(0)
    return SequenceDataset("toy", 15, items, offsets)


def _write(tmp_path: Path, data: SequenceDataset, d: int = 5):
    units = semantic_units(data, "user")
    unit_emb = torch.randn(len(units), d)
    item_emb = torch.randn(data.num_items, d)
    none = torch.randn(d)
    paths = sracl.write_reference_inputs(tmp_path, data, units.users.tolist(), unit_emb, item_emb, none, MAX_LEN)
    return units, unit_emb, item_emb, none, paths


def test_reference_keys_slide_like_the_reference():
    train = list(range(10, 17))  # 7 items -> 6 examples
    keys = sracl.reference_keys(3, train, 4)
    assert keys[0] == "3:10" and keys[3] == "3:10:11:12:13"
    assert keys[4] == "3:11:12:13:14" and keys[5] == "3:12:13:14:15"  # window of the last 4 items
    assert len(keys) == len(train) - 1 and len(set(keys)) == len(keys)
    assert sracl.reference_keys(1, [5], 4) == []


def test_round_trip_split_examples_and_neighbour_sequences(tmp_path):
    data = _dataset()
    units, unit_emb, item_emb, none, paths = _write(tmp_path, data)
    back = sracl.read_reference_inputs(paths, MAX_LEN)
    # split: the reference's data_partition on our file = our leave-one-out split
    lengths = data.train_lengths().tolist()
    for u in range(data.num_users):
        seq = data.sequence(u)
        assert back["train"][u + 1] == (seq[:lengths[u]] if len(seq) >= 3 else seq)
        if len(seq) >= 3:
            assert back["valid"][u + 1] == seq[-2] and back["test"][u + 1] == seq[-1]
    vu, vend, _ = data.split_targets("valid")
    assert sorted(back["valid"]) == [u + 1 for u in vu.tolist()]
    assert [back["valid"][u + 1] for u in vu.tolist()] == data.items[vend].tolist()
    # training examples: the reference's keys map each example to our unit of that example
    ex_user = torch.searchsorted(data.offsets, data.train_targets()[1], right=True) - 1
    unit_of = {u: j for j, u in enumerate(units.users.tolist())}
    for u in range(data.num_users):
        ours = units.example_unit[ex_user == u].tolist()
        if len(data.sequence(u)) >= 3 or len(data.sequence(u)) == 1:
            assert back["example_unit"][u + 1] == ours
        else:  # a 2-item user: the reference trains on <i1> -> i2 (our test target); same unit
            assert ours == [] and back["example_unit"][u + 1] == [unit_of[u]]
            assert back["train"][u + 1] == data.sequence(u) and u + 1 not in back["test"]
    # neighbour decoding (main.py:79 inversion + utils.py:50-62): the unit's training part, last MAX_LEN
    seqs, lens = data.windows(units.ends, units.starts, MAX_LEN)
    for j in range(len(units)):
        ours = seqs[j, MAX_LEN - int(lens[j]):].tolist()
        assert back["unit_sequence"][j] == ours
    # embeddings: row 0 of the item table is "None", then items 1..n; units in unit order
    torch.testing.assert_close(back["item_emb"][0], none)
    torch.testing.assert_close(back["item_emb"][1:], item_emb)
    torch.testing.assert_close(back["unit_emb"], unit_emb)


def test_write_rejects_mismatched_sizes(tmp_path):
    data = _dataset()
    units = semantic_units(data, "user")
    with pytest.raises(ValueError, match="units but"):
        sracl.write_reference_inputs(tmp_path, data, units.users.tolist()[:-1], torch.zeros(len(units), 3),
                                     torch.zeros(15, 3), torch.zeros(3), MAX_LEN)
    with pytest.raises(ValueError, match="items but"):
        sracl.write_reference_inputs(tmp_path, data, units.users.tolist(), torch.zeros(len(units), 3),
                                     torch.zeros(14, 3), torch.zeros(3), MAX_LEN)


_LOG = """debug args.saved_result_file ./log/parity/results_alpha_0.100_beta_0.100_k_10.txt
epoch 0 training [time: 812.33s, train_loss1: 2890.1234, train_loss2: 1850.5, train_loss3: 2100.25]
PARITY_JSON {"epoch": 0, "train_seconds": 800.0, "loss": 8.1, "valid": {"mrr@10": 0.02}, "test": {"mrr@10": 0.018}}
valid result: 
HIT@5 : 0.0456    NDCG@5 : 0.0265    MRR@5 : 0.0201    HIT@10 : 0.0732    NDCG@10 : 0.0354    MRR@10 : 0.0240    HIT@20 : 0.1379    NDCG@20 : 0.0514    MRR@20 : 0.0283
Saving current best: ./log/parity/model.pth
epoch 1 training [time: 799.00s, train_loss1: 2700.0, train_loss2: 1800.0, train_loss3: 2000.0]
PARITY_JSON {"epoch": 1, "train_seconds": 790.0, "loss": 7.9, "valid": {"mrr@10": 0.03}, "test": {"mrr@10": 0.028}}
valid result: 
HIT@5 : 0.05    NDCG@5 : 0.03    MRR@5 : 0.025    HIT@10 : 0.08    NDCG@10 : 0.04    MRR@10 : 0.03    HIT@20 : 0.15    NDCG@20 : 0.06    MRR@20 : 0.035
Loading model structure and parameters from ./log/parity/model.pth
best valid : {'HIT@5': 0.05, 'NDCG@5': 0.03}
test result: {'HIT@5': 0.0488, 'NDCG@5': 0.0301, 'MRR@5': 0.0233, 'HIT@10': 0.0774, 'NDCG@10': 0.0394, 'MRR@10': 0.0277, 'HIT@20': 0.1421, 'NDCG@20': 0.0557, 'MRR@20': 0.0321}
"""


def test_parse_own_scores_and_records():
    valid, final = sracl.parse_own_scores(_LOG)
    assert sorted(valid) == [0, 1]
    assert valid[0]["mrr@10"] == pytest.approx(0.0240) and valid[0]["hit@20"] == pytest.approx(0.1379)
    assert valid[1]["ndcg@20"] == pytest.approx(0.06) and len(valid[1]) == 9
    assert final["hit@20"] == pytest.approx(0.1421) and final["mrr@10"] == pytest.approx(0.0277)
    recs = sracl.ADAPTER.parse_reference(None, _LOG)
    assert [r["epoch"] for r in recs] == [0, 1]
    assert recs[0]["own"]["valid"]["mrr@10"] == pytest.approx(0.0240)
    assert recs[1]["own"]["final_test"]["ndcg@20"] == pytest.approx(0.0557)
    assert "final_test" not in recs[0].get("own", {})
    assert sracl.parse_own_scores("no scores here") == ({}, None)


class _Oracle(torch.nn.Module):
    """full_sort_predict puts the row's next item (from a lookup on its last item) first."""

    def __init__(self, nxt: dict[int, int], n: int) -> None:
        super().__init__()
        self.nxt, self.n = nxt, n

    def full_sort_predict(self, seqs):
        out = torch.zeros(seqs.size(0), self.n)
        for r, last in enumerate(seqs[:, -1].tolist()):
            out[r, self.nxt[last] - 1] = 1.0
        return out


def test_ref_epoch_end_scores_with_graphcls_task(monkeypatch, capsys):
    # distinct items per user so that "last input item -> target" is a function
    seqs = [[1, 2, 3, 4], [5, 6, 7], [8, 9, 10, 11, 12]]
    data = SequenceDataset("toy2", 12, torch.tensor(sum(seqs, [])), torch.tensor([0, 4, 7, 12]))
    nxt = {s[i]: s[i + 1] for s in seqs for i in range(len(s) - 1)}
    monkeypatch.setattr(sracl, "_our_dataset", lambda: data)
    monkeypatch.setenv("PARITY_SEQ_EVAL", json.dumps({"max_len": 3, "topk": [1, 5], "eval_batch_size": 2}))
    sracl._hook.update({"start": None, "stop": None, "task": None})
    model = _Oracle(nxt, 12)
    model.train()
    sracl.ref_epoch_start()
    sracl.ref_train_done()
    sracl.ref_epoch_end(0, model, (10.0, 4.0, 6.0), 2, 0.1, 0.1)
    rec = parse_records(capsys.readouterr().out)[0]
    assert rec["valid"]["hit@1"] == 1.0 and rec["test"]["hit@1"] == 1.0 and rec["test"]["ndcg@5"] == 1.0
    assert rec["loss"] == pytest.approx((10.0 + 0.1 * 6.0 + 0.1 * 4.0) / 2)
    assert rec["train_seconds"] is not None and rec["train_seconds"] >= 0
    assert model.training  # the training mode is restored
    sracl._hook.update({"start": None, "stop": None, "task": None})


def test_ref_check_data_refuses_another_split(monkeypatch, capsys):
    data = _dataset()
    monkeypatch.setattr(sracl, "_our_dataset", lambda: data)
    train = {u + 1: sracl.reference_training_part(data.sequence(u)) for u in range(data.num_users)}
    valid = {u + 1: data.sequence(u)[:-1] if len(data.sequence(u)) >= 3 else [] for u in range(data.num_users)}
    test = {u + 1: data.sequence(u) if len(data.sequence(u)) >= 3 else [] for u in range(data.num_users)}
    sracl.ref_check_data(train, valid, test, 15)
    assert '"mismatched_users": 0' in capsys.readouterr().out
    train[2] = train[2][::-1] + [1]
    with pytest.raises(RuntimeError, match="not graphcl's"):
        sracl.ref_check_data(train, valid, test, 15)
    train[2] = sracl.reference_training_part(data.sequence(1))
    with pytest.raises(RuntimeError, match="not graphcl's"):
        sracl.ref_check_data(train, valid, test, 14)


def test_subset_files_round_trip(tmp_path):
    from graphcl.data.sequences import load_sequences
    from graphcl.llm.summaries import Summaries, read_summaries_jsonl
    data = _dataset()
    data.user_tokens = [f"u{u}" for u in range(data.num_users)]
    data.item_tokens = [f"i{i}" for i in range(1, data.num_items + 1)]
    full = Summaries(users={t: f"user {t}" for t in data.user_tokens},
                     items={t: f"item {t}" for t in data.item_tokens})
    seq_path, sum_path = sracl.subset_files(data, full, 3, tmp_path)
    sub = data.first_users(3)
    back = load_sequences(seq_path)
    assert back.num_users == 3 and back.num_items == sub.num_items
    assert back.user_tokens == ["u0", "u1", "u2"]
    for u in range(3):
        assert back.sequence(u) == sub.sequence(u)
    s = read_summaries_jsonl(sum_path)
    assert s.users == {f"u{u}": f"user u{u}" for u in range(3)}
    # item i of the subset carries the summary of its source token
    assert s.items == {str(i + 1): f"item {t}" for i, t in enumerate(sub.item_tokens)}
    used = sorted(set(data.items[:int(data.offsets[3])].tolist()))
    assert sub.item_tokens == [f"i{i}" for i in used]
    del full.items[sub.item_tokens[0]]
    with pytest.raises(ValueError, match="no entry"):
        sracl.subset_files(data, full, 3, tmp_path / "x")
