"""Parity adapter: GRACE, reference CRIPAC-DIG/GRACE (``train.py``, ``model.py``, ``eval.py``, ``config.yaml``).

The reference reads its per-dataset settings from ``config.yaml`` (``--config``); we write
``parity_config.yaml`` with the authors' entry for the dataset, only ``seed`` (the run's) and
``num_epochs`` (the harness's) replaced, and check that the checkout's entry has the values
:meth:`GRACEAdapter.hyper` records. It loads ``Planetoid(~/datasets/<Name>, <Name>,
NormalizeFeatures())``: the path is pointed at our raw files (copied into the work folder). It
trains a fixed number of epochs, one full-graph step each, and evaluates once at the end with its
own protocol (``eval.py``: L2-normalized embeddings, 10 % train / 90 % test random splits, one-vs-rest
liblinear logistic regression with C chosen by 5-fold CV on the training part, micro/macro-F1 over
3 splits), parsed as ``own.final_test`` (micro-F1 = accuracy).
"""
from __future__ import annotations

import re
from typing import Any

from experiments.parity.adapter import Patch, PatchError, RunContext
from experiments.parity.node_adapter import PROBE_NOTE, NodeAdapter, hook_import, node_epoch_hook, node_setup_hook
from experiments.parity.summary import attach_own_scores, parse_records

_LOOP = "        loss = train(model, data.x, data.edge_index)\n"
_FINAL = re.compile(r"\(E\) \| label_classification: F1Mi=([0-9.]+)\+-[0-9.]+, F1Ma=([0-9.]+)\+-[0-9.]+")

#: the authors' config.yaml entries (commit b3b5ac3), seed and num_epochs aside
_CONFIG: dict[str, dict[str, Any]] = {
    "cora": {"learning_rate": 0.0005, "num_hidden": 128, "num_proj_hidden": 128, "activation": "relu",
             "base_model": "GCNConv", "num_layers": 2, "drop_edge_rate_1": 0.2, "drop_edge_rate_2": 0.4,
             "drop_feature_rate_1": 0.3, "drop_feature_rate_2": 0.4, "tau": 0.4, "weight_decay": 0.00001},
    "citeseer": {"learning_rate": 0.001, "num_hidden": 256, "num_proj_hidden": 256, "activation": "prelu",
                 "base_model": "GCNConv", "num_layers": 2, "drop_edge_rate_1": 0.2, "drop_edge_rate_2": 0.0,
                 "drop_feature_rate_1": 0.3, "drop_feature_rate_2": 0.2, "tau": 0.9, "weight_decay": 0.00001},
}


def parse_grace_log(log: str) -> list[dict[str, Any]]:
    """The hook's records of a GRACE reference log plus its own closing evaluation
    (``F1Mi``/``F1Ma`` means over its 3 splits) as ``own.final_test`` ``acc``/``f1_mean``."""
    records = parse_records(log)
    m = _FINAL.search(log)
    final = {"acc": float(m.group(1)), "f1_mean": float(m.group(2))} if m else None
    return attach_own_scores(records, [], final)


class GRACEAdapter(NodeAdapter):
    name = "grace"
    method = "grace"
    reference_repo = "CRIPAC-DIG/GRACE"
    entry_file = "train.py"
    protocol_notes = [
        PROBE_NOTE,
        "the final metric is 'last' (epoch 200, the paper's fixed-epoch protocol); 'best_valid' picks the probed "
        "epoch with the best probe validation accuracy",
        "the reference's embeddings come from its own model (model(data.x, data.edge_index) in eval mode, no "
        "grad) right after the epoch's optimizer step; the hook saves and restores the random states of random, "
        "numpy and torch around the probe, so the reference's training stream is not changed",
        "own.final_test (the reference's printout, eval.py:48-78): micro-F1 (= accuracy) and macro-F1, means of 3 "
        "random 10 % train / 90 % test splits, L2-normalized embeddings, one-vs-rest liblinear logistic "
        "regression with C in 2^-10..2^9 chosen by 5-fold CV; another protocol than graphcl's probe (more "
        "test nodes, no validation split)",
        "seeding: the reference seeds torch with config['seed'] (train.py:56): parity_config.yaml sets it to the "
        "run's seed; the hook also seeds random and numpy with it (numpy draws the reference's own evaluation "
        "splits). graphcl draws its augmentations from a torch.Generator seeded with the run's seed",
    ]
    findings = [
        "equations identical (`python -m experiments.parity.nodecheck grace --checkout <ref> --dataset cora|citeseer`: "
        "the reference's model.py Encoder/Model with our initial parameters, both fed the same two views per step): "
        "losses equal to 1e-6 over 6 Adam steps on Cora and 4 on CiteSeer, max |grad difference| <= 3e-6 (float32 "
        "sums; max |grad| 3e-3); parameters within 3e-4 after the steps, all of it in entries whose gradient is ~1e-8, "
        "the scale of Adam's eps where lr*g/(|g|+eps) turns float rounding into visible steps (1.8 M of CiteSeer's "
        "1.9 M first-layer weights have |grad| < 1e-7: rare bag-of-words columns)",
        "encoder: 2 GCN layers of widths 2*hidden then hidden, the activation after each, one PReLU slope shared by "
        "both layers (model.py:26-52) / graphcl/nn/gcn.py:71-96; PyG GCNConv normalization (self loops, in-degree, "
        "per directed edge) / graphcl/nn/gcn.py:38-53 gcn_norm_graph; projection fc1-ELU-fc2 (model.py:62-64) / "
        "graphcl/models/node/grace.py:56-63; initialization Glorot + zero bias for the GCN layers, torch's Linear "
        "default for the head, on both sides",
        "loss: exp(cos/tau) sums (model.py:71-115, no max subtraction) / graphcl/losses/infonce.py:127-212 (fused "
        "forward/backward with logsumexp): the same values (above)",
        "views: dropout_adj per directed edge (train.py:23-24; PyG 2.8.1 still has it, deprecated: torch.rand >= p) "
        "and a column mask uniform < p (model.py:120-128) / graphcl/augment/edges.py:44 drop_edges(undirected=False) "
        "and graphcl/augment/features.py:47 mask_feature_columns: the same distributions; the reference draws from "
        "torch's global generator, graphcl from a torch.Generator seeded with the run's seed, so a seed gives "
        "different draws on the two sides: the comparison is between seed distributions",
        "features: NormalizeFeatures (train.py:78-81) / row normalization (graphcl/models/node/base.py:125); graphcl "
        "keeps x as sparse CSR (base.py:126, under 10 % nonzero) and multiplies the first layer sparse, PyG's "
        "GCNConv multiplies the dense 3327 x 3703 (CiteSeer) / 2708 x 1433 (Cora) matrix: most of the s/epoch gap",
    ]
    environment = [{"what": "PYTHONPATH += repository root",
                    "reason": "the patched train.py imports experiments.parity.refhook (threads, graph check, "
                              "per-epoch probe)"},
                   {"what": "parity_config.yaml (--config)",
                    "reason": "the authors' config.yaml entry of the dataset with seed = the run's seed and "
                              "num_epochs = the harness's epochs"},
                   {"what": "datasets/<Name>/<Name>/raw = our Planetoid raw files",
                    "reason": "the same files graphcl loads (no download here)"}]

    def hyper(self, dataset: str) -> dict[str, Any]:
        return dict(_CONFIG[dataset])

    def patches(self, ctx: RunContext) -> list[Patch]:
        return [
            hook_import("train.py", "from eval import label_classification\n"),
            Patch("train.py", "    torch.cuda.set_device(args.gpu_id)\n", "",
                  "CPU: no CUDA device to select (the reference falls back to CPU itself, train.py:87)"),
            Patch("train.py", "    random.seed(12345)\n",
                  "    random.seed(12345)\n    parity_refhook.setup(seed=True)\n",
                  "torch thread count; seed random/numpy/torch with the run's seed (torch: the same seed "
                  "train.py:56 just set from parity_config.yaml; numpy: the reference's own evaluation splits)"),
            Patch("train.py", "    path = osp.join(osp.expanduser('~'), 'datasets', args.dataset)\n",
                  "    path = osp.join('datasets', args.dataset)\n",
                  "read our Planetoid raw files, copied to ./datasets/<Name>/<Name>/raw (no download)"),
            Patch("train.py", "            T.NormalizeFeatures())\n", "            transform=T.NormalizeFeatures())\n",
                  "PyG API drift: Planetoid's third positional parameter is now `split` (was `transform`)"),
            node_setup_hook("train.py", "    data = dataset[0]\n"),
            node_epoch_hook("train.py", _LOOP),
            Patch("eval.py", "np.bool)", "bool)", "numpy >= 1.24 removed the np.bool alias (same dtype)", count=2),
            Patch("eval.py", "n_jobs=8", "n_jobs=1",
                  "one process for the reference's own final evaluation (2 shared cores; same folds and fits)"),
        ]

    def prepare_reference(self, ctx: RunContext, split: Any) -> None:
        import yaml
        self.copy_planetoid(ctx)
        name = self.datasets[ctx.dataset]["pyg_name"]
        authors = yaml.safe_load((ctx.workdir / "config.yaml").read_text(encoding="utf-8"))[name]
        differ = {k: (authors.get(k), v) for k, v in self.hyper(ctx.dataset).items() if authors.get(k) != v}
        if differ:
            raise PatchError(f"the checkout's config.yaml entry for {name} differs from the recorded one "
                             f"(authors', recorded): {differ}; is the checkout at the recorded commit?")
        config = {name: {**authors, "seed": ctx.seed, "num_epochs": ctx.epochs}}
        (ctx.workdir / "parity_config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    def reference_command(self, ctx: RunContext) -> list[str]:
        return [ctx.python, "train.py", "--dataset", self.datasets[ctx.dataset]["pyg_name"],
                "--config", "parity_config.yaml", "--gpu_id", "0"]

    def parse_reference(self, ctx: RunContext, log: str) -> list[dict[str, Any]]:
        return parse_grace_log(log)

    def ours_config(self, dataset: str) -> dict[str, Any]:
        h = self.hyper(dataset)
        return {"lr": h["learning_rate"], "weight_decay": h["weight_decay"], "hidden_dim": h["num_hidden"],
                "proj_dim": h["num_proj_hidden"], "num_layers": h["num_layers"], "activation": h["activation"],
                "p_e1": h["drop_edge_rate_1"], "p_e2": h["drop_edge_rate_2"], "p_f1": h["drop_feature_rate_1"],
                "p_f2": h["drop_feature_rate_2"], "tau": h["tau"], "undirected_drop": False,
                "normalize_features": True, "minibatch_size": 0, **self.probe}


ADAPTER = GRACEAdapter()
