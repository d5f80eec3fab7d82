"""What the SELFRec parity adapters (``sgl``, ``simgcl``, ``xsimgcl``) share.

Reference: Coder-Yu/SELFRec (``model/graph/{SGL,SimGCL,XSimGCL}.py``; SimGCL and XSimGCL are
the first author's own code, SGL a re-implementation). SELFRec reads ``training.set`` /
``test.set`` text files of ``user item weight`` lines (``data/loader.py:23-32``) and numbers
users and items in their order of first appearance in the TRAINING file
(``data/ui_graph.py:29-45``); users and items without a training interaction do not exist for it
(it has no validation split).

This module gives:

* :func:`write_selfrec_pairs` / :func:`read_selfrec_pairs`: our ``(2, n)`` pairs in that text
  format (``u i 1``, our integer ids as names, sorted by user then item) and back;
* :func:`to_ours`: run INSIDE the reference process (imported by a run-time patch): SELFRec's
  ``(user_num, d)`` / ``(item_num, d)`` embeddings reordered into our id space, with one extra
  column so that an item SELFRec does not know (no training interaction) scores ``-1e6`` for
  every user (SELFRec never ranks it) and a user it does not know scores 0 everywhere;
* :class:`SelfRecAdapter`: the adapter base of the three methods (conf file, patches, command,
  parsing of SELFRec's own evaluation printout).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from experiments.parity.adapter import Adapter, Patch, RunContext
from experiments.parity.convert import canonical_pairs
from experiments.parity.summary import attach_own_scores, parse_records

__all__ = ["MISSING_ITEM_SCORE", "SelfRecAdapter", "parse_own", "read_selfrec_pairs", "to_ours",
           "write_selfrec_pairs"]

#: the score an item unknown to SELFRec gets for every user (below any real score)
MISSING_ITEM_SCORE = -1e6

# SELFRec's fast_evaluation printout (base/graph_recommender.py:270), epoch 1-based
_OWN = re.compile(r"\*Current Performance\*\s*\nEpoch: (\d+), Hit Ratio: \S+, Precision: \S+, "
                  r"Recall: ([0-9.eE+-]+), NDCG: ([0-9.eE+-]+)")
# its closing evaluation (base/graph_recommender.py:249 + util/evaluation.py:135-162)
_FINAL = re.compile(r"The result of \w+:\n(?:.*\n)*?Top 20\nHit Ratio:\S+\nPrecision:\S+\n"
                    r"Recall:([0-9.eE+-]+)\nNDCG:([0-9.eE+-]+)")


def write_selfrec_pairs(path: Path, pairs: np.ndarray, shape: tuple[int, int]) -> Path:
    """Write ``pairs`` ((2, n) user, item ids in ``[0, shape)``) as SELFRec's ``u i 1`` lines,
    sorted by user then item. Raises ``ValueError`` on ids out of range or duplicate pairs."""
    arr = canonical_pairs(pairs)
    if arr.size and (arr.min() < 0 or arr[0].max() >= int(shape[0]) or arr[1].max() >= int(shape[1])):
        raise ValueError(f"pairs out of range for shape {tuple(shape)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{u} {i} 1\n" for u, i in arr.T), encoding="utf-8")
    return path


def read_selfrec_pairs(path: Path) -> np.ndarray:
    """The ``(2, n)`` pairs of a SELFRec ``u i w`` file (names must be integers; every line has
    three fields, as SELFRec's loader requires), sorted by user then item."""
    users, items = [], []
    for k, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(" ")
        if len(parts) != 3:
            raise ValueError(f"{path}:{k}: expected 'user item weight', got {line!r}")
        users.append(int(parts[0]))
        items.append(int(parts[1]))
    return canonical_pairs(np.array([users, items], dtype=np.int64).reshape(2, -1))


def _our_shape() -> tuple[int, int]:
    from experiments.parity.convert import read_split_npz
    _, shape = read_split_npz(os.environ["PARITY_SPLIT"])
    return int(shape[0]), int(shape[1])


def to_ours(data: Any, user_emb: Any, item_emb: Any, shape: tuple[int, int] | None = None) -> tuple[Any, Any]:
    """SELFRec's embeddings in our id space, ``(num_users, d + 1)`` and ``(num_items, d + 1)``.

    ``data`` is SELFRec's ``Interaction`` (its ``user`` / ``item`` dicts map our ids, as
    strings, to its rows). Row u of the result is SELFRec's row of user ``str(u)`` with a last
    column 1 (zeros if SELFRec does not know u); row i is SELFRec's row of item ``str(i)`` with
    a last column 0, or zeros and :data:`MISSING_ITEM_SCORE` if it does not know i. So
    ``users @ items.T`` equals SELFRec's scores on the items it knows and
    ``MISSING_ITEM_SCORE`` on the others. ``shape`` defaults to our split's (``PARITY_SPLIT``)."""
    import torch
    num_users, num_items = shape if shape is not None else _our_shape()
    u = user_emb.detach().float().cpu()
    i = item_emb.detach().float().cpu()
    d = u.shape[1]
    users = torch.zeros(num_users, d + 1)
    items = torch.zeros(num_items, d + 1)
    items[:, d] = MISSING_ITEM_SCORE
    for table, rows, out, flag in ((data.user, u, users, 1.0), (data.item, i, items, 0.0)):
        ours = torch.tensor([int(name) for name in table], dtype=torch.long)
        theirs = torch.tensor(list(table.values()), dtype=torch.long)
        if ours.numel() and (int(ours.min()) < 0 or int(ours.max()) >= out.shape[0]):
            raise ValueError(f"SELFRec ids out of our range [0, {out.shape[0]})")
        out[ours, :d] = rows[theirs]
        out[ours, d] = flag
    return users, items


def parse_own(log: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attach SELFRec's own printed test scores to ``records``: each ``*Current Performance*``
    block as ``own.test`` of its (0-based) epoch, the closing ``The result of ...`` Top-20 block
    as ``own.final_test`` of the last record."""
    per_epoch = [(int(m.group(1)) - 1, {"recall@20": float(m.group(2)), "ndcg@20": float(m.group(3))})
                 for m in _OWN.finditer(log)]
    closing = _FINAL.search(log)
    final = {"recall@20": float(closing.group(1)), "ndcg@20": float(closing.group(2))} if closing else None
    return attach_own_scores(records, per_epoch, final)


_IMPORT = ("from experiments.parity import refhook as parity_refhook\n"
           "from experiments.parity import selfrec_common as parity_selfrec\n")
_RUNNER = ("from experiments.parity import refhook\n"
           "refhook.setup(seed=True)\n"
           "from SELFRec import SELFRec\n"
           "from util.conf import ModelConf\n"
           "SELFRec(ModelConf('parity_conf.yaml')).execute()\n")


class SelfRecAdapter(Adapter):
    """Base of the SELFRec graph-model adapters: subclasses set ``name``, ``method``,
    ``model`` (SELFRec's class and file name), ``model_conf`` (its conf block, the values of
    its ``conf/<model>.yaml``), ``eval_find`` (its per-epoch evaluation lines) and
    ``ours_specific`` (graphcl's keys for the same model). The model-file patches match from
    the start of a line (a leading newline), so SGL.py's commented-out TensorFlow version
    (``#         for epoch ...``) is not matched."""

    reference_repo = "Coder-Yu/SELFRec"
    entry_file = "SELFRec.py"
    metrics = ["ndcg@20", "recall@20"]  # the first selects the epoch on validation (graphcl's valid_metric)
    datasets = {"ml-100k": {"graphcl_name": "ml-100k", "ref_name": "parity_ml-100k"}}
    model: str = ""
    model_conf: dict[str, Any] = {}
    eval_find: str = "            self.fast_evaluation(epoch)\n"
    ours_specific: dict[str, Any] = {}
    common_notes = [
        "valid/test curves of both sides: graphcl's RankingEvaluator on our split (exact per-user means; "
        "valid excludes train items, test excludes train and valid items), on the embeddings after each "
        "epoch (the reference's own no-grad self.model() forward, the one it scores with)",
        "SELFRec knows only users/items with a training interaction (data/ui_graph.py:29-45): the hook "
        "(experiments/parity/selfrec_common.py to_ours) maps its rows back to our ids and gives the "
        "items it does not know (30 of 1682 on ml-100k) the score -1e6, so it never ranks them, as its "
        "own ranking does",
        "own.test / own.final_test (the reference's printout, base/graph_recommender.py:251-273 and "
        "util/evaluation.py): test set at the LAST epoch only (its per-epoch evaluation is patched to run "
        "at the last epoch: pure-Python top-k, numba absent), training items masked, validation items NOT "
        "masked; final = the same embeddings (best-by-test among one evaluated epoch)",
        "no early stopping on either side: 'best_valid' selects the epoch on validation ndcg@20, "
        "'best_test' on test ndcg@20 (test-set selection, for comparison only)",
        "seeding: SELFRec seeds nothing itself; the runner calls refhook.setup(seed=True) first, seeding "
        "random (its sampler and edge dropout), numpy and torch (init, noise) with the run's seed",
    ]
    common_findings = [
        "equations identical (`python -m experiments.parity.selfrec_stepcheck --checkout <SELFRec> --steps 5`: "
        "same parameters, batches, noise draws and dropped graphs through SELFRec's encoders and loss functions "
        "and graphcl's ContrastRecommender with this adapter's config): losses differ by 2e-5 (SELFRec's "
        "-log(1e-5 + sigmoid) in util/loss_torch.py:9 vs softplus in graphcl/models/rec/base.py:81-83), "
        "gradients by <= 5e-8 (|grad| ~ 3e-3 to 5e-2), parameters by <= 4.2e-7 after 5 Adam steps",
        "same: LightGCN on D^-1/2 A D^-1/2 (data/graph.py:10-24, data/ui_graph.py:47-65 / graphcl/sparse.py:335-366); "
        "Xavier-uniform init of the user and item tables (model/graph/*.py _init_model / "
        "graphcl/contrast/propagation.py:57); InfoNCE on cosine, one direction, in-batch over the batch's "
        "distinct users and items (util/loss_torch.py:35-50 / graphcl/contrast/rec_objectives.py:26-35, "
        "graphcl/models/rec/contrast_rec.py:132); l2_reg_loss = reg * sum_t ||E_t||_F / B on the propagated "
        "batch rows (util/loss_torch.py:18-22 / contrast_rec.py:138-143 reg_form norm); every training pair "
        "once per epoch in a random order, last partial batch kept (util/sampler.py:5-17 / "
        "graphcl/data/sampling.py:150-169); Adam lr 1e-3, no weight decay",
        "negative sampling: SELFRec draws negatives among the items it knows, i.e. those with a training "
        "interaction (util/sampler.py:19-26: list(data.item.keys()), 1652 items here), graphcl among all "
        "1682 items (graphcl/data/sampling.py:128-139); both reject the user's training items. graphcl's 30 "
        "items without training interactions are thus pushed down as negatives; SELFRec has no row for them "
        "(ranked last by the hook). 17 of the 9596 test pairs (10 users) are on such items",
        "table sizes: SELFRec's item table has 1652 rows, graphcl's 1682 (Xavier bound sqrt(6/(n+64)): "
        "0.0591 vs 0.0586); SELFRec numbers items by first appearance in train.txt, graphcl by id: the two "
        "sides' initial tables differ for the same seed (independent draws, not paired seeds)",
        "random streams: SELFRec shuffles and samples with Python's random (util/sampler.py:7, 24-26; SGL's "
        "edge dropout data/augmentor.py:184) and draws init and noise from torch's global RNG; graphcl draws "
        "everything from one torch.Generator of the run's seed (graphcl/data/sampling.py:164, 128-139)",
        "its own evaluation (base/graph_recommender.py:208-228, 251-273; util/evaluation.py:84-97): training "
        "items masked, validation items NOT masked (it has no validation split); recall = mean over test "
        "users of hits/|test items|, NDCG with IDCG over min(|test|, N): the same definitions as graphcl's, so "
        "own.test is below our test metric only by the unmasked validation items. It keeps the embeddings of "
        "the best TEST epoch for its closing evaluation (base/graph_recommender.py:258-265, test-set "
        "selection)",
        "on ml-100k with identical inputs (selfrec_stepcheck --ml100k, SGL, 40 steps = one epoch of batch "
        "2048): parameters within 8e-6 after the epoch, losses within 2e-5",
        "all three methods: graphcl's test metrics are a little higher than SELFRec's at nearly every epoch (10 "
        "epochs, 3 seeds; training losses equal to 0.1 %). Tested and ruled out: the 30 items SELFRec does not "
        "know (graphcl re-run on the 1652 training items only, so the same item set and negative pool: XSimGCL "
        "last-epoch test ndcg@20 0.0827 +- 0.0030 vs 0.0831 +- 0.0007, SGL 0.0298 (2 seeds) vs 0.0266), "
        "graphcl seeding its batch/noise generator with the same seed as the init RNG (graphcl/train/utils.py:41, "
        ":46; generator seeded apart: XSimGCL 0.0817 +- 0.0030, SGL 0.0264 (2 seeds)), the equations (stepcheck) "
        "and the evaluation (same evaluator; SELFRec's own printout agrees up to its unmasked validation items). "
        "On the VALIDATION split there is no such gap at the last epoch (ndcg@20 ref / ours: SGL 0.0250 / "
        "0.0238, SimGCL 0.0805 / 0.0785, XSimGCL 0.0807 / 0.0822), so the test gap is read as chance, not a code "
        "difference. The seeds are paired (both sides draw the identical user table at one seed: checked), so "
        "the remaining differences are the item tables' row order and the random streams of batches, negatives, "
        "noise and dropout",
        "speed: SELFRec's sampler is a Python loop (a random.choice and a dict lookup per training pair, "
        "util/sampler.py:20-27) and its graph is a torch.sparse COO tensor (base/torch_interface.py:7-13) "
        "multiplied with torch.sparse.mm; graphcl samples vectorized and propagates with CSR products",
    ]
    environment = [
        {"what": "PYTHONPATH += repository root", "reason": "the runner and the patched model file import "
         "experiments.parity.refhook (threads, seeding, per-epoch evaluation) and "
         "experiments.parity.selfrec_common (id mapping)"},
        {"what": "runner: python -c '...SELFRec(ModelConf(\"parity_conf.yaml\")).execute()'",
         "reason": "main.py asks for the model name with input(); the runner does what main.py does for "
         "the conf file the adapter writes (parity_conf.yaml: SELFRec's conf/<model>.yaml values, our "
         "data files, max.epoch = the harness's epochs)"},
    ]

    def hyper(self, dataset: str) -> dict[str, Any]:
        # SELFRec's conf/<model>.yaml values (training keys are the same in the three files)
        return {"embedding.size": 64, "batch.size": 2048, "learning.rate": 0.001, "reg.lambda": 0.0001,
                "item.ranking.topN": [10, 20], self.model: dict(self.model_conf)}

    def patches(self, ctx: RunContext) -> list[Patch]:
        f = f"model/graph/{self.model}.py"
        return [
            Patch("util/algorithm.py", "from numba import jit\n",
                  "def jit(*_args, **_kwargs):\n    return lambda f: f\n",
                  "numba is not installed: find_k_largest (its own evaluation's top-k) runs as plain Python "
                  "(same result)"),
            Patch(f, "\nfrom base.graph_recommender import GraphRecommender\n",
                  "\nfrom base.graph_recommender import GraphRecommender\n" + _IMPORT,
                  "import the evaluation hook and the id mapping"),
            Patch(f, "model = self.model.cuda()", "model = self.model", "CPU instead of CUDA (the model)"),
            Patch(f, ".cuda()", "", "CPU instead of CUDA (adjacency, batch indices, noise)", count=4),
            Patch(f, "\n        for epoch in range(self.maxEpoch):\n",
                  "\n        for epoch in range(self.maxEpoch):\n"
                  "            parity_refhook.epoch_start()\n            _parity_losses = []\n",
                  "start the epoch's training clock (view drawing and sampling count as training)"),
            Patch(f, "\n                optimizer.step()\n",
                  "\n                optimizer.step()\n                _parity_losses.append(batch_loss.item())\n",
                  "record the batch losses (their mean is the epoch's loss)"),
            Patch(f, "\n            with torch.no_grad():\n                self.user_emb, self.item_emb = self.model()\n",
                  "\n            parity_refhook.train_done()\n"
                  "            with torch.no_grad():\n                self.user_emb, self.item_emb = self.model()\n"
                  "            parity_refhook.epoch_end(epoch, *parity_selfrec.to_ours(self.data, self.user_emb, "
                  "self.item_emb), loss=sum(_parity_losses) / len(_parity_losses))\n",
                  "stop the clock; evaluate the embeddings the reference scores with (its no-grad forward) "
                  "on our valid/test split with graphcl's evaluator, rows mapped to our ids; print a "
                  "PARITY_JSON line"),
            Patch(f, "\n" + self.eval_find,
                  "\n            if epoch == self.maxEpoch - 1:\n                self.fast_evaluation(epoch)\n",
                  "its own per-epoch test evaluation (pure-Python top-k without numba) only at the last "
                  "epoch; it draws no random numbers, so training is unchanged"),
        ]

    def conf_text(self, ctx: RunContext) -> str:
        """SELFRec's conf file for this run (YAML)."""
        import yaml
        ref = self.datasets[ctx.dataset]["ref_name"]
        h = self.hyper(ctx.dataset)
        conf = {"training.set": f"./dataset/{ref}/train.txt", "test.set": f"./dataset/{ref}/test.txt",
                "model": {"name": self.model, "type": "graph"}, "item.ranking.topN": h["item.ranking.topN"],
                "embedding.size": h["embedding.size"], "max.epoch": int(ctx.epochs),
                "batch.size": h["batch.size"], "learning.rate": h["learning.rate"],
                "reg.lambda": h["reg.lambda"], self.model: h[self.model], "output": "./results/"}
        return yaml.safe_dump(conf, sort_keys=False)

    def prepare_reference(self, ctx: RunContext, split: Any) -> None:
        folder = ctx.workdir / "dataset" / self.datasets[ctx.dataset]["ref_name"]
        shape = (split.num_users, split.num_items)
        write_selfrec_pairs(folder / "train.txt", split.train.numpy(), shape)
        write_selfrec_pairs(folder / "test.txt", split.test.numpy(), shape)
        (ctx.workdir / "parity_conf.yaml").write_text(self.conf_text(ctx), encoding="utf-8")

    def reference_command(self, ctx: RunContext) -> list[str]:
        return [ctx.python, "-c", _RUNNER]

    def parse_reference(self, ctx: RunContext, log: str) -> list[dict[str, Any]]:
        return parse_own(log, parse_records(log))

    def ours_config(self, dataset: str) -> dict[str, Any]:
        h = self.hyper(dataset)
        return {"embedding_dim": h["embedding.size"], "lr": h["learning.rate"], "batch_size": h["batch.size"],
                "reg_weight": h["reg.lambda"], "weight_decay": 0.0, "topk": [20], "valid_metric": "ndcg@20",
                **self.ours_specific}
