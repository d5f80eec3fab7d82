"""Parity adapter: MCLRec, reference QinHsiu/MCLRec (a RecBole fork: ``run_seq.py``, ``seq.yaml``,
``recbole/model/sequential_recommender/mclrec.py``, ``recbole/trainer/trainer.py``).

Data: the ICLRec Beauty file (one line per user, ``user item item ...``), which graphcl reads
(``graphcl.data.load("beauty")``) and the authors convert with ``dataset/data_process.py`` into a
RecBole atomic ``.inter`` file (one ``user<TAB>item`` line per interaction, file order). We write
OUR loaded sequences back in that ``.inter`` format (``dataset/parity_<dataset>/``) so the reference
reads exactly what graphcl trains on; RecBole then remaps tokens, applies ``seq.yaml``'s 5-core
filter (a no-op on this 5-core file), stable-sorts by user, builds every prefix
(``prepare_data_augmentation``, last 50 items) and splits leave-one-out with ``leave_one_num: 2``.
:func:`recbole_examples_from_lines` re-implements that reading (our code, for the test without the
checkout) and, at run time, :func:`recbole_bind` hands the reference's own train/valid/test
examples to :func:`experiments.parity.seqhook.check_split`, which refuses a run whose examples
differ from graphcl's.

Evaluation of both sides: graphcl's sequential evaluator
(:class:`~graphcl.eval.tasks.sequential.SequentialRankingTask`: full ranking over all items, no
history exclusion, HR/NDCG/MRR@10,20); on the reference, each user's valid/test prefix goes through
the reference model's own ``forward`` (RecBole's right-padded layout, its ids) and is scored against
its item table (:class:`~experiments.parity.seqhook.TokenScorer`). The reference's own per-epoch
validation printout (``valid result:``, RecBole's evaluator, recall@k = HR@k here) is kept as
``own.valid`` and its closing ``test result:`` (the checkpoint it selected on MRR@10) as
``own.final_test`` of the last epoch.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from experiments.parity.adapter import Adapter, Patch, RunContext
from experiments.parity.seqhook import Example
from experiments.parity.summary import attach_own_scores, parse_records

__all__ = ["ADAPTER", "MCLRecAdapter", "parse_mclrec_log", "recbole_examples_from_lines", "write_inter"]

_HOOK = "from experiments.parity.adapters import mclrec as parity_mclrec\n"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_VALID = re.compile(r"epoch (\d+) evaluating \[[^\]]*\]\s*\n.*?valid result:\s*\n([^\n]*)")
_PAIR = re.compile(r"([a-z]+@\d+) : ([0-9.eE+-]+)")
_TEST = re.compile(r"test result: (\{[^}]*\})")
#: one entry of a printed result dict: 'recall@10': 0.0871 or, numpy 2's repr, np.float64(0.0871)
_DICT_PAIR = re.compile(r"'([a-z]+@\d+)': (?:np\.float64\()?([0-9.eE+-]+)\)?")
_OWN_NAMES = {"recall": "hit", "ndcg": "ndcg", "mrr": "mrr"}

#: the authors' Beauty settings: scripts/train_beauty.sh:3 (dropouts, use_rl, joint, lmd, beta, sim),
#: seq.yaml (batch, lr, max length, tau, ...) and recbole/properties/model/MCLRec.yaml (architecture,
#: augmentation ratios) at commit bc8d622
_HYPER: dict[str, dict[str, Any]] = {
    "beauty": {"hidden_dropout_prob": 0.5, "attn_dropout_prob": 0.5, "use_rl": 1, "joint": 0, "lmd": 0.0,
               "beta": 0.05, "sim": "dot", "tau": 1.0, "train_batch_size": 256, "learning_rate": 0.001,
               "weight_decay": 0.0, "MAX_ITEM_LIST_LENGTH": 50, "n_layers": 2, "n_heads": 2, "hidden_size": 64,
               "inner_size": 256, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "initializer_range": 0.02,
               "loss_type": "CE", "crop_ratio": 0.5, "mask_ratio": 0.5, "reorder_ratio": 0.8,
               "min_user_inter_num": 5, "min_item_inter_num": 5, "leave_one_num": 2},
}
#: passed on the reference's command line (the rest are its files' values, checked in prepare_reference)
_CMD_KEYS = ("hidden_dropout_prob", "attn_dropout_prob", "use_rl", "joint", "lmd", "beta", "sim",
             "train_batch_size")


# ------------------------------------------------------------------ the reference's reading, re-done
def write_inter(path: Any, dataset: Any) -> None:
    """Write a :class:`~graphcl.data.sequences.SequenceDataset` as the ``.inter`` file the authors'
    ``dataset/data_process.py`` makes from an ICLRec ``.txt`` (header ``user_id:token<TAB>item_id:token``,
    one line per interaction, users in order, each user's items in sequence order)."""
    users = dataset.user_tokens or [str(u) for u in range(dataset.num_users)]
    items = dataset.item_tokens or [str(i) for i in range(1, dataset.num_items + 1)]
    flat, offsets = dataset.items.tolist(), dataset.offsets.tolist()
    lines = ["user_id:token\titem_id:token"]
    for u, token in enumerate(users):
        lines.extend(f"{token}\t{items[i - 1]}" for i in flat[offsets[u]:offsets[u + 1]])
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def recbole_examples_from_lines(lines: Iterable[str], max_len: int = 50, min_user: int | None = 5,
                                min_item: int | None = 5, leave_one_num: int = 2) -> dict[str, list[Example]]:
    """The train/valid/test next-item examples MCLRec's RecBole builds from ICLRec lines
    (``user item item ...``), as ``(user, input items, target)`` tokens. Our re-implementation of:
    ``dataset/data_process.py`` (one interaction per item, file order); ``Dataset._filter_by_inter_num``
    (iterative k-core: drop users with < ``min_user`` and items with < ``min_item`` interactions until
    none is left); ``SequentialDataset.prepare_data_augmentation`` (stable sort by user, every prefix
    ``<i1..ik> -> i(k+1)``, the input cut to its last ``max_len`` items); ``leave_one_out`` /
    ``_split_index_by_leave_one_out`` (per user, of its ``c`` examples the last ``min(leave_one_num,
    c - 1)`` are held out: the last one is test, the one before valid; the rest train)."""
    pairs: list[tuple[str, str]] = []
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        pairs.extend((parts[0], item) for item in parts[1:])
    while True:  # k-core, as RecBole (both counts from the same round)
        users, items = Counter(u for u, _ in pairs), Counter(i for _, i in pairs)
        ban_u = {u for u, c in users.items() if min_user is not None and c < min_user}
        ban_i = {i for i, c in items.items() if min_item is not None and c < min_item}
        if not ban_u and not ban_i:
            break
        pairs = [(u, i) for u, i in pairs if u not in ban_u and i not in ban_i]
    first: dict[str, int] = {}
    for u, _ in pairs:  # RecBole's remap: ids in order of first appearance; sort is stable
        first.setdefault(u, len(first))
    ordered = sorted(pairs, key=lambda p: first[p[0]])
    per_user: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    seq_start, last = 0, None
    for k, (u, item) in enumerate(ordered):
        if u != last:
            last, seq_start = u, k
            continue
        if k - seq_start > max_len:
            seq_start += 1
        per_user.setdefault(u, []).append((tuple(i for _, i in ordered[seq_start:k]), item))
    out: dict[str, list[Example]] = {"train": [], "valid": [], "test": []}
    names = ["train", "valid", "test"] if leave_one_num == 2 else None
    if names is None:
        raise ValueError(f"only leave_one_num = 2 (train/valid/test) is modelled, got {leave_one_num}")
    for u, examples in per_user.items():
        legal = min(leave_one_num, len(examples) - 1)
        cut = len(examples) - legal
        out["train"].extend((u, x, y) for x, y in examples[:cut])
        for j, (x, y) in enumerate(examples[cut:]):
            out[names[-legal + j]].append((u, x, y))
    return out


# ------------------------------------------------------------------ called inside the reference
def recbole_examples(dataset: Any, loader: Any) -> Iterator[Example]:
    """The examples a RecBole sequential data loader holds (``uid_list``, ``item_list_index``
    slices and ``target_index`` into ``dataset.inter_feat``), in tokens, one at a time."""
    uid, iid = dataset.uid_field, dataset.iid_field
    user_tok, item_tok = dataset.field2id_token[uid], dataset.field2id_token[iid]
    items = loader.dataset.inter_feat[iid].numpy()
    for u, sl, t in zip(loader.uid_list, loader.item_list_index, loader.target_index):
        yield (str(user_tok[int(u)]), tuple(str(item_tok[int(i)]) for i in items[sl]),
               str(item_tok[int(items[int(t)])]))


def recbole_bind(dataset: Any, train_data: Any, valid_data: Any, test_data: Any) -> None:
    """Called by the patched ``quick_start.run_recbole`` after ``data_preparation``: refuse a split
    that is not graphcl's (:func:`experiments.parity.seqhook.check_split`) and keep the reference's
    item-id map for the hook."""
    from experiments.parity import seqhook
    loaders = {"train": train_data, "valid": valid_data, "test": test_data}
    seqhook.check_split(lambda split: recbole_examples(dataset, loaders[split]))
    iid = dataset.iid_field
    seqhook._state["ref_ids"] = seqhook.ref_ids_from_tokens(lambda t: dataset.field2token_id[iid][t])


def recbole_epoch_end(epoch: int, total_loss: Any, num_batches: int, model: Any) -> None:
    """Called by the patched ``Trainer.fit`` after an epoch's training: the hook's record with
    ``loss`` = the reference's epoch loss sum (steps 1+2+3 of every batch) / batches, and
    graphcl's evaluation of ``model.forward`` over ``model.item_embedding``."""
    from experiments.parity import seqhook
    loss = sum(total_loss) if isinstance(total_loss, tuple) else total_loss
    scorer = seqhook.TokenScorer(model, model.forward, lambda: model.item_embedding.weight,
                                 seqhook._state["ref_ids"], right_pad=True)
    seqhook.epoch_end(epoch, None if loss is None else float(loss) / max(1, int(num_batches)), scorer)


# ------------------------------------------------------------------ log parsing
def _own(pairs: Iterable[tuple[str, float]], ks: tuple[int, ...]) -> dict[str, float]:
    out = {}
    for name, value in pairs:
        metric, _, k = name.partition("@")
        if metric in _OWN_NAMES and int(k) in ks:
            out[f"{_OWN_NAMES[metric]}@{k}"] = float(value)
    return out


def parse_mclrec_log(log: str, ks: tuple[int, ...] = (10, 20)) -> list[dict[str, Any]]:
    """The hook's records of an MCLRec reference log, plus its own printout: each epoch's
    ``valid result`` as ``own.valid`` and the closing ``test result`` (the checkpoint it selected on
    valid MRR@10) as ``own.final_test`` of the last record; RecBole's recall@k (one target per
    user) is named hit@k."""
    records = parse_records(log)
    text = _ANSI.sub("", log)
    by_epoch = {r["epoch"]: r for r in records}
    for m in _VALID.finditer(text):
        rec = by_epoch.get(int(m.group(1)))
        if rec is not None:
            rec.setdefault("own", {})["valid"] = _own(((a, float(b)) for a, b in _PAIR.findall(m.group(2))), ks)
    final = None
    tests = _TEST.findall(text)
    if tests:
        final = _own(((a, float(b)) for a, b in _DICT_PAIR.findall(tests[-1])), ks)
    return attach_own_scores(records, [], final)


# ------------------------------------------------------------------ the adapter
def _num(value: Any) -> Any:
    """A YAML value as RecBole reads it: ``1e-12`` (a string to PyYAML's YAML 1.1 rules) as a float."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


class MCLRecAdapter(Adapter):
    name = "mclrec"
    method = "mclrec"
    reference_repo = "QinHsiu/MCLRec"
    entry_file = "run_seq.py"
    task = "sequential"  # (as the sracl adapter)
    #: the first selects: MRR@10, the authors' seq.yaml valid_metric (also the sracl adapter's)
    metrics = ["mrr@10", "hit@10", "ndcg@10", "hit@20", "ndcg@20"]
    datasets = {"beauty": {"graphcl_name": "beauty", "ref_name": "parity_beauty"}}
    protocol_notes = [
        "valid/test of both sides: graphcl's sequential evaluator (graphcl/eval/tasks/sequential.py: full ranking "
        "over all 12,101 items, no history exclusion, only padding masked, exact per-user means; HR = hit@k) "
        "after every epoch; valid input = the training part, test input = training part + valid item, the last "
        "50 items. On the reference, those inputs (mapped to RecBole's item ids, laid out right-padded as "
        "RecBole does) go through its model's own forward() in eval mode, scored against its item_embedding "
        "table (experiments/parity/seqhook.py TokenScorer); the random states are saved and restored around it",
        "split check: the reference's own train/valid/test examples (RecBole's loaders after its 5-core filter, "
        "prefix augmentation and leave-one-out) are compared, as multisets of (user, input items, target) "
        "tokens, with graphcl's; the run stops on any difference (PARITY_CHECK line of the log)",
        "own.valid: the reference's own per-epoch validation printout (RecBole's full-sort evaluator, recall@k "
        "named hit@k: one target per user); own.final_test: its closing test of the checkpoint it selected on "
        "valid MRR@10 (seq.yaml valid_metric), on the last record",
        "loss: the reference's printed epoch loss is the sum over batches of its three meta steps' losses "
        "(trainer.py:179-232 all add to total_loss), recorded per batch; graphcl's is the mean of the step-1 "
        "objective: the two loss curves are not comparable",
        "early stopping off on both sides: --stopping_step=<epochs + 1> on the reference (seq.yaml: 10 on MRR@10), "
        "patience = epochs + 1 on ours",
        "seeding: the reference seeds random/numpy/torch with --seed=<run's seed> (recbole init_seed, "
        "reproducibility True); graphcl draws batches and views from a torch.Generator seeded with the run's seed",
    ]
    findings = [
        "equations identical (`python -m experiments.parity.mclrec_check --checkout <ref>`: the reference's own "
        "MCLRec and Extractors with their parameters copied into graphcl's MCLRec, eval mode): the encoder on "
        "full-length (50-item) inputs to 5e-7; Lcl1 (info_nce + CrossEntropyLoss, mclrec.py:240-244, 265-283 / "
        "graphcl/losses/ntxent.py nt_xent) equal; Lcl2 + 0.1 R (meta_contrast 'step1' with meta_rl, "
        "mclrec.py:153-215, 112-151 / graphcl/models/seq/mclrec.py _contrast, margin_regularizer) equal, "
        "gradients w.r.t. both views and the augmenter weights to 6e-8",
        "rec loss: the reference's softmax runs over item_embedding.weight[:n_items] (mclrec.py:233-235), RecBole's "
        "n_items counting [PAD], so the padding row 0 is an extra learnable class (and _init_weights, mclrec.py:66-73, "
        "draws it N(0, 0.02) like the others); graphcl's runs over the real items only (graphcl/models/seq/base.py "
        "full_softmax_ce; row 0 kept at zero, graphcl/nn/sasrec.py). mclrec_check: 4.0701 (with the pad class) vs "
        "4.0538 (ours = the reference's without it) at initialization; a negligible-by-design variant (the pad "
        "logit is pushed down), candidate option. Evaluation masks the pad column on both sides",
        "split identical: the reference's examples equal graphcl's on Beauty (the PARITY_CHECK line of each "
        "reference log: 131,413 train prefixes, 22,363 valid and 22,363 test inputs); "
        "tests/test_parity_mclrec.py checks our re-implementation of RecBole's reading against graphcl's "
        "SequenceDataset on a small file. Users with 2-4 items would differ (RecBole drops them in the 5-core "
        "filter; and a 3-item user gets no valid example in RecBole's _split_index_by_leave_one_out, "
        "dataset.py:1295-1301, while graphcl/data/sequences.py:91-94 gives it one): none in Beauty",
        "padding layout: RecBole right-pads (positions 0..len-1 from the sequence start, "
        "sequential_dataloader.py:205-206, mclrec.py:95-110 forward gathers position len-1); graphcl left-pads with "
        "end-aligned positions (graphcl/data/sequences.py:124-135, documented in graphcl/models/seq/mclrec.py): "
        "for inputs shorter than 50 the position embeddings an item sees differ (a parametrization difference, "
        "not a different function class)",
        "meta step 2: the reference recomputes the full calculate_loss with mode 'step2' (mclrec.py:230-231, 248-250: "
        "0 + lmd*Lcl1 + Lcl2 + 0.1 R) with grad through the encoder, then steps only the extractors "
        "(trainer.py:194-212); graphcl computes Lcl2 + R with the encoder under no_grad "
        "(graphcl/models/seq/mclrec.py augmenter_loss): the same augmenter gradient (lmd*Lcl1 does not reach the "
        "extractors), the reference's encoder dropout in step 2 also draws from the torch stream",
        "batching: the reference encodes the original and the two views in three forward calls, graphcl in one "
        "concatenated call (graphcl/models/seq/mclrec.py _encode3): same values, different dropout draws",
        "augmentations: the reference draws crop/mask/reorder with Python's random per sequence "
        "(sequential_dataloader.py:111-176: two distinct ops out of 3 via random.sample, length-1 inputs unchanged, "
        "mask to id 0 with random.sample positions); graphcl's distinct_pair_views draws the same ops from a "
        "torch.Generator (graphcl/augment/sequence.py), min_length=2 likewise",
    ]
    environment = [{"what": "PYTHONPATH += repository root",
                    "reason": "the patched quick_start.py/trainer.py import experiments.parity (split check, "
                              "per-epoch evaluation hook)"},
                   {"what": "dataset/parity_<dataset>/parity_<dataset>.inter",
                    "reason": "graphcl's loaded sequences in the authors' .inter format (dataset/data_process.py's "
                              "output layout)"},
                   {"what": "PARITY_SEQ (our sequences .npz), PARITY_SEQ_CONFIG (graphcl's evaluator settings)",
                    "reason": "read by experiments/parity/seqhook.py inside the reference"}]

    def load_data(self, dataset: str, data_root: Any) -> tuple[Any, dict[str, Any]]:
        import hashlib
        from pathlib import Path
        from graphcl.data import load
        data = load(self.datasets[dataset]["graphcl_name"], root=str(data_root))
        src = Path(str(data.source))
        has_valid, has_test = data.held_out()
        desc = {"source": str(src), "name": src.name,
                "files_sha256": {src.name: hashlib.sha256(src.read_bytes()).hexdigest()},
                "num_users": int(data.num_users), "num_items": int(data.num_items),
                "interactions": int(data.items.numel()), "train": int(data.train_targets()[0].numel()),
                "valid": int(has_valid.sum()), "test": int(has_test.sum())}
        return data, desc

    def hyper(self, dataset: str) -> dict[str, Any]:
        return dict(_HYPER[dataset])

    def patches(self, ctx: RunContext) -> list[Patch]:
        return [
            Patch("recbole/data/dataset/sequential_dataset.py", "dtype=np.bool)", "dtype=bool)",
                  "numpy >= 1.24 removed the np.bool alias (same dtype)", count=2),
            Patch("recbole/evaluator/metrics.py", "np.bool)", "bool)",
                  "numpy >= 1.24 removed the np.bool alias (same dtype)"),
            Patch("recbole/evaluator/metrics.py", "np.float)", "np.float64)",
                  "numpy >= 1.24 removed the np.float alias (same dtype)", count=5),
            Patch("recbole/trainer/__init__.py", "from recbole.trainer.hyper_tuning import HyperTuning\n", "",
                  "hyperopt is not installed; HyperTuning (hyperparameter search) is not used by run_seq.py"),
            Patch("recbole/quick_start/quick_start.py",
                  "    init_seed(config['seed'], config['reproducibility'])\n\n    dataset_name=dataset\n",
                  "    init_seed(config['seed'], config['reproducibility'])\n"
                  "    from experiments.parity import refhook as parity_refhook\n    parity_refhook.setup(seed=False)\n"
                  "\n    dataset_name=dataset\n",
                  "torch thread count (seeding stays the reference's own init_seed with --seed)"),
            Patch("recbole/quick_start/quick_start.py",
                  "    # dataset splitting\n    train_data, valid_data, test_data = data_preparation(config, dataset)\n",
                  "    # dataset splitting\n    train_data, valid_data, test_data = data_preparation(config, dataset)\n"
                  "    " + _HOOK + "    parity_mclrec.recbole_bind(dataset, train_data, valid_data, test_data)\n",
                  "check that the reference's train/valid/test examples are graphcl's; keep its item-id map"),
            Patch("recbole/trainer/trainer.py",
                  "            training_start_time = time()\n",
                  "            training_start_time = time()\n"
                  "            from experiments.parity import refhook as parity_refhook\n"
                  "            parity_refhook.epoch_start()\n",
                  "the epoch's training clock (start)"),
            Patch("recbole/trainer/trainer.py",
                  "            training_end_time = time()\n",
                  "            training_end_time = time()\n            parity_refhook.train_done()\n"
                  "            " + _HOOK +
                  "            parity_mclrec.recbole_epoch_end(epoch_idx, train_loss, len(train_data), self.model)\n",
                  "the epoch's training clock (stop); a PARITY_JSON record per epoch: graphcl's sequential "
                  "evaluation of the reference model after the epoch's last step, before its own validation"),
        ]

    def prepare_reference(self, ctx: RunContext, split: Any) -> None:
        import yaml
        ref = self.datasets[ctx.dataset]["ref_name"]
        folder = ctx.workdir / "dataset" / ref
        folder.mkdir(parents=True, exist_ok=True)
        write_inter(folder / f"{ref}.inter", split)
        from experiments.parity.seqhook import write_seq_npz
        write_seq_npz(ctx.workdir / "parity_seq.npz", split)
        # the settings not on the command line must be the files' (another commit fails here)
        files = {**yaml.safe_load((ctx.workdir / "seq.yaml").read_text(encoding="utf-8")),
                 **yaml.safe_load((ctx.workdir / "recbole/properties/model/MCLRec.yaml").read_text(encoding="utf-8"))}
        h = self.hyper(ctx.dataset)
        differ = {k: (files.get(k), v) for k, v in h.items()
                  if k not in _CMD_KEYS and k in files and _num(files.get(k)) != v}
        if differ:
            raise ValueError(f"the checkout's seq.yaml/MCLRec.yaml differ from the recorded settings "
                             f"(file, recorded): {differ}; is the checkout at the recorded commit?")

    def reference_command(self, ctx: RunContext) -> list[str]:
        h = self.hyper(ctx.dataset)
        args = [f"--{k}={h[k]}" for k in _CMD_KEYS]
        return [ctx.python, "run_seq.py", f"--dataset={self.datasets[ctx.dataset]['ref_name']}",
                f"--epochs={ctx.epochs}", *args, f"--seed={ctx.seed}", f"--stopping_step={ctx.epochs + 1}",
                "--use_gpu=False", "--show_progress=False"]

    def reference_env(self, ctx: RunContext) -> dict[str, str]:
        import json
        cfg = self.ours_config(ctx.dataset)
        return {"PARITY_SEQ": str(ctx.workdir / "parity_seq.npz"),
                "PARITY_SEQ_CONFIG": json.dumps({k: cfg[k] for k in ("max_len", "topk", "eval_batch_size",
                                                                     "exclude_history")})}

    def parse_reference(self, ctx: RunContext, log: str) -> list[dict[str, Any]]:
        return parse_mclrec_log(log)

    def ours_config(self, dataset: str) -> dict[str, Any]:
        h = self.hyper(dataset)
        return {"lmd": h["lmd"], "beta": h["beta"], "tau": h["tau"], "sim": h["sim"], "joint": bool(h["joint"]),
                "reg_weight": 0.1 if h["use_rl"] else 0.0, "batch_size": h["train_batch_size"],
                "lr": h["learning_rate"], "weight_decay": h["weight_decay"], "max_len": h["MAX_ITEM_LIST_LENGTH"],
                "num_layers": h["n_layers"], "num_heads": h["n_heads"], "hidden_size": h["hidden_size"],
                "inner_size": h["inner_size"], "hidden_dropout": h["hidden_dropout_prob"],
                "attn_dropout": h["attn_dropout_prob"], "layer_norm_eps": h["layer_norm_eps"],
                "init_std": h["initializer_range"], "loss_type": "ce", "crop_ratio": h["crop_ratio"],
                "mask_ratio": h["mask_ratio"], "reorder_ratio": h["reorder_ratio"], "backbone": "sasrec",
                "topk": [10, 20], "eval_batch_size": 4096, "exclude_history": False}


ADAPTER = MCLRecAdapter()
