"""Evaluation hook for a SEQUENTIAL (next-item) reference, imported into the reference process by a
run-time patch; the sequential counterpart of :mod:`experiments.parity.refhook` (which ranks with
user/item embedding tables).

The harness (through the adapter's ``reference_env``) sets:

* ``PARITY_SEQ``: our sequences as ``.npz`` (:func:`write_seq_npz`: items, offsets, item and
  user tokens), the same :class:`~graphcl.data.sequences.SequenceDataset` graphcl trains on;
* ``PARITY_SEQ_CONFIG``: JSON ``{"max_len", "topk", "eval_batch_size", "exclude_history"}``, the
  settings of graphcl's sequential evaluator (our config's);
* ``PARITY_THREADS``: the torch thread count.

A patched reference calls :func:`check_split` once with the examples it built (train/valid/test as
``(user token, input item tokens, target token)``), :func:`refhook.epoch_start` /
:func:`refhook.train_done` around an epoch's training, and :func:`epoch_end` with its model and a
``forward(item_seq, item_seq_len) -> (B, d)`` sequence encoder plus its item table (or any
``score`` function). :func:`epoch_end` evaluates the reference model with graphcl's own
:class:`~graphcl.eval.tasks.sequential.SequentialRankingTask` on OUR validation and test inputs
(each user's prefix before the target, its last ``max_len`` items) — full ranking over all items,
exactly as graphcl evaluates its own model — and prints one ``PARITY_JSON {...}`` line.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from experiments.parity import refhook

__all__ = ["Example", "TokenScorer", "check_split", "compare_examples", "epoch_end", "examples_of",
           "iter_examples", "read_seq_npz", "write_seq_npz"]

#: one next-item example: (user token, input item tokens in order, target item token)
Example = tuple[str, tuple[str, ...], str]

_state: dict[str, Any] = {"data": None, "task": None}


# ---------------------------------------------------------------------------- our sequences
def write_seq_npz(path: str | os.PathLike[str], dataset: Any) -> Path:
    """Write a :class:`~graphcl.data.sequences.SequenceDataset` (items, offsets, tokens) to ``path``."""
    path = Path(path)
    n_users, n_items = int(dataset.num_users), int(dataset.num_items)
    users = dataset.user_tokens or [str(u) for u in range(n_users)]
    items = dataset.item_tokens or [str(i) for i in range(1, n_items + 1)]
    np.savez(path, items=dataset.items.numpy(), offsets=dataset.offsets.numpy(),
             num_items=np.int64(n_items), user_tokens=np.asarray(users, dtype=str),
             item_tokens=np.asarray(items, dtype=str), name=np.asarray(str(dataset.name)))
    return path


def read_seq_npz(path: str | os.PathLike[str]) -> Any:
    """The :class:`~graphcl.data.sequences.SequenceDataset` written by :func:`write_seq_npz`."""
    from graphcl.data.sequences import SequenceDataset
    with np.load(path) as z:
        return SequenceDataset(str(z["name"]), int(z["num_items"]), z["items"], z["offsets"],
                               [str(t) for t in z["user_tokens"]], [str(t) for t in z["item_tokens"]],
                               str(path))


def iter_examples(dataset: Any, max_len: int, split: str) -> Iterator[Example]:
    """graphcl's examples of ``split`` of ``dataset`` in tokens, one at a time: ``train`` = every
    training prefix (:meth:`SequenceDataset.train_targets`), ``valid``/``test`` = each user's input
    (:meth:`SequenceDataset.split_targets`); inputs cut to their last ``max_len`` items."""
    users = dataset.user_tokens or [str(u) for u in range(dataset.num_users)]
    items = ["<pad>"] + (dataset.item_tokens or [str(i) for i in range(1, dataset.num_items + 1)])
    flat = dataset.items.tolist()
    if split == "train":
        ends, starts = dataset.train_targets()
        owner = np.searchsorted(dataset.offsets.numpy(), ends.numpy(), side="right") - 1
        rows = zip(owner.tolist(), starts.tolist(), ends.tolist())
    else:
        us, es, ss = dataset.split_targets(split)
        rows = zip(us.tolist(), ss.tolist(), es.tolist())
    for user, start, end in rows:
        lo = max(start, end - max_len)
        yield users[user], tuple(items[i] for i in flat[lo:end]), items[flat[end]]


def examples_of(dataset: Any, max_len: int) -> dict[str, list[Example]]:
    """:func:`iter_examples` of the three splits, as lists."""
    return {split: list(iter_examples(dataset, max_len, split)) for split in ("train", "valid", "test")}


def compare_examples(ours: dict[str, Iterable[Example]], theirs: dict[str, Iterable[Example]],
                     details: Callable[[str], tuple[Iterable[Example], Iterable[Example]]] | None = None
                     ) -> dict[str, Any]:
    """Per split: the example counts on both sides and whether the two MULTISETS of examples are
    equal (order free: the reference may hold them shuffled). Compared through the examples'
    hashes (one process, so the same hash function on both sides; memory stays small on 10^5
    examples); on a difference, ``details(split)`` (default: the given iterables, when they are
    lists) gives the examples again to name two of each side's extras."""
    from collections import Counter
    check: dict[str, Any] = {}
    for split in ("train", "valid", "test"):
        a, b = Counter(map(hash, ours.get(split, []))), Counter(map(hash, theirs.get(split, [])))
        check[split] = {"ours": sum(a.values()), "reference": sum(b.values()), "same": a == b}
        if a != b:
            again = details(split) if details else (ours.get(split, []), theirs.get(split, []))
            ca, cb = Counter(again[0]), Counter(again[1])
            diff = list((ca - cb).elements())[:2], list((cb - ca).elements())[:2]
            check[split]["example_diff"] = {"only_ours": [list(map(str, d)) for d in diff[0]],
                                            "only_reference": [list(map(str, d)) for d in diff[1]]}
    return check


def _data() -> Any:
    if _state["data"] is None:
        _state["data"] = read_seq_npz(os.environ["PARITY_SEQ"])
    return _state["data"]


def _config() -> dict[str, Any]:
    cfg = json.loads(os.environ.get("PARITY_SEQ_CONFIG", "{}"))
    return {"max_len": int(cfg.get("max_len", 50)), "topk": list(cfg.get("topk", [10, 20])),
            "eval_batch_size": int(cfg.get("eval_batch_size", 4096)),
            "exclude_history": bool(cfg.get("exclude_history", False))}


def check_split(theirs: Callable[[str], Iterable[Example]]) -> dict[str, Any]:
    """Refuse a reference whose train/valid/test examples differ from graphcl's (as multisets of
    (user, input items, target) tokens); ``theirs(split)`` gives the reference's examples (an
    iterable; called again on a difference). Prints one ``PARITY_CHECK {...}`` line."""
    max_len = _config()["max_len"]
    splits = ("train", "valid", "test")
    check = compare_examples({s: iter_examples(_data(), max_len, s) for s in splits},
                             {s: theirs(s) for s in splits},
                             lambda s: (iter_examples(_data(), max_len, s), theirs(s)))
    sys.stdout.write(refhook.CHECK_MARKER + json.dumps(check) + "\n")
    sys.stdout.flush()
    if not all(v["same"] for v in check.values()):
        raise RuntimeError(f"the reference's sequences/split are not graphcl's: {check}")
    return check


# ---------------------------------------------------------------------------- evaluation
class TokenScorer:
    """graphcl's ``SequenceScorer`` protocol (``eval()``, ``score(seqs, lengths)``) over a reference
    model: our left-padded item ids are mapped to the reference's ids (``ref_ids[our id]``, 0 for
    padding), re-laid out RIGHT-padded (RecBole's layout: item ``k`` of the input at position ``k``)
    when ``right_pad``, encoded by ``encode(item_seq, item_seq_len) -> (B, d)``, and scored against
    ``item_table()[ref_ids[1:]]`` (column ``j`` = our item ``j + 1``)."""

    def __init__(self, module: Any, encode: Callable[[Any, Any], Any], item_table: Callable[[], Any],
                 ref_ids: Any, right_pad: bool = True) -> None:
        self.module, self.encode, self.item_table = module, encode, item_table
        self.ref_ids, self.right_pad = ref_ids, right_pad

    def eval(self) -> "TokenScorer":
        self.module.eval()
        return self

    def relayout(self, seqs: Any, lengths: Any) -> Any:
        """Left-padded ``(B, L)`` -> right-padded (positions ``0..len-1`` hold the items)."""
        import torch
        L = seqs.size(1)
        pos = torch.arange(L, device=seqs.device).unsqueeze(0)
        shift = (L - lengths).unsqueeze(1)
        src = (pos + shift).clamp_max(L - 1)
        return torch.where(pos < lengths.unsqueeze(1), seqs.gather(1, src), torch.zeros_like(seqs))

    def score(self, seqs: Any, lengths: Any) -> Any:
        import torch
        with torch.no_grad():
            x = self.relayout(seqs, lengths) if self.right_pad else seqs
            h = self.encode(self.ref_ids.to(x.device)[x], lengths)
            table = self.item_table()
            return h @ table[self.ref_ids[1:].to(table.device)].T


def _task() -> Any:
    if _state["task"] is None:
        import torch
        from graphcl.eval.tasks.sequential import SequentialRankingTask
        _state["task"] = SequentialRankingTask(_data(), _config(), torch.device("cpu"))
    return _state["task"]


def ref_ids_from_tokens(ref_token_to_id: Callable[[str], int]) -> Any:
    """``(num_items + 1,)`` long tensor: our item id -> the reference's id (0 -> 0, padding)."""
    import torch
    data = _data()
    tokens = data.item_tokens or [str(i) for i in range(1, data.num_items + 1)]
    return torch.tensor([0] + [int(ref_token_to_id(t)) for t in tokens], dtype=torch.long)


def evaluate(scorer: TokenScorer) -> dict[str, dict[str, float]]:
    """graphcl's sequential valid and test metrics of ``scorer`` (training mode restored)."""
    training = bool(getattr(scorer.module, "training", False))
    try:
        task = _task()
        out = {}
        if task.has_valid:
            out["valid"] = task.evaluate(scorer, "valid")
        out["test"] = task.evaluate(scorer, "test")
    finally:
        scorer.module.train(training)
    return out


def epoch_end(epoch: int, loss: float | None, scorer: TokenScorer) -> None:
    """Print this epoch's record: training seconds (:func:`refhook.epoch_start`/``train_done``),
    ``loss`` and graphcl's sequential evaluation of ``scorer`` (eval mode, no grad; the random
    states of random/numpy/torch are saved and restored, so the reference's stream is untouched)."""
    import random
    import torch
    st = refhook._state
    stop = st["stop"] if st["stop"] is not None else time.perf_counter()
    seconds = stop - st["start"] if st["start"] is not None else None
    t0 = time.perf_counter()
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    try:
        metrics = evaluate(scorer)
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
    record = {"epoch": int(epoch), "train_seconds": seconds, "loss": None if loss is None else float(loss),
              **metrics, "eval_seconds": time.perf_counter() - t0}
    sys.stdout.write(refhook.MARKER + json.dumps(record) + "\n")
    sys.stdout.flush()
