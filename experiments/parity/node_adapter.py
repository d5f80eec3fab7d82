"""What the node-classification adapters (GRACE, CSGCL on Planetoid Cora/CiteSeer) share.

* Data: graphcl loads the Planetoid raw files under ``<data-root>/pyg/Planetoid/<Name>/raw``; the
  reference gets a copy of the SAME raw files under ``<workdir>/datasets/<Name>/<Name>/raw`` (its
  ``Planetoid(root, name)`` then builds its ``processed/`` there: no download) and the hook checks
  at start that the labels (node by node) and the edge set it loaded equal graphcl's
  (:func:`experiments.parity.refhook.node_setup`).
* Evaluation: both sides go through graphcl's node probe with the settings :attr:`NodeAdapter.probe`
  (graphcl's defaults, written out): every :attr:`NodeAdapter.eval_every` epochs and at the last
  epoch; ``metrics`` are the probe's test accuracy (``acc``, the final metric: last epoch, the
  papers' fixed-epoch protocol) and macro-F1 (``f1_mean``); ``valid`` is the probe's validation
  accuracy.
"""
from __future__ import annotations

import hashlib
import shutil
import warnings
from pathlib import Path
from typing import Any

from experiments.parity.adapter import Adapter, Patch, RunContext

__all__ = ["HOOK_IMPORT", "NodeAdapter", "PROBE", "PROBE_NOTE", "hook_import", "node_epoch_hook", "node_setup_hook",
           "planetoid_raw"]

#: the line a reference's entry file gets to import the evaluation hook
HOOK_IMPORT = "from experiments.parity import refhook as parity_refhook\n"

#: the protocol note of the adapters whose both sides go through graphcl's node probe
PROBE_NOTE = ("valid/test of both sides: graphcl's node probe (graphcl/eval/tasks/node_probe.py) on the encoder's "
              "embeddings of the full graph, every 20 epochs and at the last: 5 random 10/10/80 splits drawn from "
              "probe seeds 0-4 (the same splits on both sides, whatever the training seed), z-scored embeddings, "
              "logistic regression (Adam, 300 epochs, zero init) per weight decay of {0, 1e-5, 1e-4, 1e-3, 1e-2}, "
              "the decay chosen on validation; 'valid' = the validation accuracy, 'test' = the test accuracy (acc) "
              "and macro-F1 (f1_mean), means over the 5 splits")


def hook_import(file: str, after: str) -> Patch:
    """Import the evaluation hook right after the line ``after`` of ``file``."""
    return Patch(file, after, after + HOOK_IMPORT, "load the evaluation hook (experiments.parity.refhook)")


def node_setup_hook(file: str, after: str) -> Patch:
    """After the line ``after`` (where ``data`` is the reference's graph), check that it is graphcl's."""
    return Patch(file, after, after + "    parity_refhook.node_setup(data.y, data.edge_index)\n",
                 "check that the reference's graph is graphcl's (labels node by node, edge set)")


def node_epoch_hook(file: str, loop: str) -> Patch:
    """Wrap the training call ``loop`` (one line, 8 spaces in, setting ``loss``) with the epoch clock
    and the per-epoch record with graphcl's probe of ``model(data.x, data.edge_index)``."""
    return Patch(file, loop,
                 "        parity_refhook.epoch_start()\n" + loop + "        parity_refhook.train_done()\n"
                 "        parity_refhook.node_epoch_end(epoch - 1, loss, model, (data.x, data.edge_index))\n",
                 "the epoch's training clock; a PARITY_JSON record per epoch (0-based), with graphcl's probe of "
                 "the reference model's embeddings every 20 epochs and at the last")


#: graphcl's node probe (graphcl/eval/tasks/node_probe.py NODE_TASK_DEFAULTS), the same on both sides
PROBE: dict[str, Any] = {"probe_split": "random", "probe_seeds": 5, "probe_train_ratio": 0.1,
                         "probe_val_ratio": 0.1, "probe_normalize": "standard", "probe_weight_decays": "default",
                         "probe_epochs": 300}


def planetoid_raw(data_root: Path, pyg_name: str) -> Path:
    """The folder of Planetoid's raw files for ``pyg_name`` under graphcl's data root."""
    return Path(data_root) / "pyg" / "Planetoid" / pyg_name / "raw"


class NodeAdapter(Adapter):
    """Base of the node adapters: Planetoid data on both sides, graphcl's probe on both sides."""

    task = "node"
    metrics = ["acc", "f1_mean"]  # probe test accuracy (selection metric on valid), macro-F1
    eval_every = 20
    probe = PROBE
    datasets = {"cora": {"graphcl_name": "cora", "pyg_name": "Cora"},
                "citeseer": {"graphcl_name": "citeseer", "pyg_name": "CiteSeer"}}

    def load_data(self, dataset: str, data_root: Path) -> tuple[Any, dict[str, Any]]:
        """graphcl's graph and its description: the raw files' sha256, sizes, probe split sizes."""
        from graphcl.data import load
        spec = self.datasets[dataset]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load(spec["graphcl_name"], root=str(data_root))
        raw = planetoid_raw(data_root, spec["pyg_name"])
        files = sorted(p for p in raw.iterdir() if p.is_file())
        n = int(data.num_nodes)
        n_train, n_valid = int(self.probe["probe_train_ratio"] * n), int(self.probe["probe_val_ratio"] * n)
        desc: dict[str, Any] = {
            "name": spec["pyg_name"], "source": str(raw),
            "files_sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
            "num_nodes": n, "num_edges": int(data.edge_index.size(1)), "num_features": int(data.x.size(1)),
            "num_classes": int(data.y.max()) + 1,
            # the probe's random split (per probe seed); train/valid/test as in the ranking files
            "train": n_train, "valid": n_valid, "test": n - n_train - n_valid}
        return data, desc

    def copy_planetoid(self, ctx: RunContext) -> Path:
        """Copy our raw Planetoid files to ``<workdir>/datasets/<Name>/<Name>/raw``; returns
        ``<workdir>/datasets`` (the reference's dataset root)."""
        name = self.datasets[ctx.dataset]["pyg_name"]
        root = ctx.workdir / "datasets"
        dest = root / name / name / "raw"
        dest.mkdir(parents=True, exist_ok=True)
        for f in planetoid_raw(ctx.data_root, name).iterdir():
            if f.is_file():
                shutil.copy2(f, dest / f.name)
        return root

    def ours_dataset(self, ctx: RunContext) -> str:
        return str(self.datasets[ctx.dataset]["graphcl_name"])
