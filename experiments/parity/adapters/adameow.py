"""Parity adapter: AdaMEOW, reference jianxiangyu/MEOW ``code_adameow`` (same repository and data
format as MEOW: :mod:`experiments.parity.adapters.meow` writes the data and provides the hook).

AdaMEOW's own parameters (``code_adameow/utils/params.py``, not MEOW's) on both sides; the code
trains all ``nb_epochs`` (its loss patience is counted, never used: ``code_adameow/main.py:97-101``),
so a fixed budget is its own protocol. Its own evaluation runs every 100 epochs after ``start_eval``
(``main.py:105-115``): the patch moves it to the last epoch only, parsed as ``own.final_test``.
"""
from __future__ import annotations

from typing import Any

from experiments.parity.adapter import Patch, RunContext
from experiments.parity.adapters.meow import (AMINER_FEATS, AMINER_ONEHOT, OWN_PROBE_RUNS, MEOWAdapter,
                                              hook_patches, parse_meow_log)

__all__ = ["AdaMEOWAdapter", "ADAPTER", "parse_adameow_log"]

_LOOP = ("        model.train()\n        optimizer.zero_grad()\n"
         "        loss = model(feats, mask_feat, adjs, mask_adjs)\n"
         "        loss.backward()\n        optimizer.step()\n")

_WEIGHT = ("        w_anchor = torch.stack([z_anchor[i].unsqueeze(0).repeat(N,1) for i in range(N)]).reshape(N*N,-1)\n"
           "        w = z.unsqueeze(0).repeat(N,1,1).reshape(N*N,-1)\n"
           "        weight = w_anchor + w\n"
           "        weight = self.MLP(weight).reshape(N,N)\n")
_WEIGHT_BLOCKS = (
    "        # parity: the same weight[i, j] = MLP(z_anchor[i] + z[j]) in blocks of 256 anchors, each block\n"
    "        # recomputed in the backward (torch.utils.checkpoint): exact values and gradients, memory\n"
    "        # O(256 N d) instead of the N^2 x d tensors (about 17 GB for ACM)\n"
    "        import torch.utils.checkpoint as _parity_ckpt\n"
    "        _mlp_block = lambda a, b: self.MLP(a[:, None, :] + b[None, :, :]).squeeze(-1)\n"
    "        weight = torch.cat([_parity_ckpt.checkpoint(_mlp_block, z_anchor[s:s + 256], z, use_reentrant=False)\n"
    "                            for s in range(0, N, 256)])\n")


def parse_adameow_log(log: str) -> list[dict[str, Any]]:
    """:func:`experiments.parity.adapters.meow.parse_meow_log`: AdaMEOW prints the same
    ``[Test Classification]`` lines and ``[Clustering] Epoch: E NMI: .. ARI: ..``; the last
    evaluation block is kept."""
    return parse_meow_log(log)


class AdaMEOWAdapter(MEOWAdapter):
    name = "adameow"
    method = "adameow"
    code_dir = "code_adameow"
    entry_file = "code_adameow/main.py"
    _HYPER = {
        "acm": {"lr": 0.00005, "l2_coef": 1e-5, "dropout": 0.3, "tau": 1.0, "feat_mask": 0.3, "adj_mask": 0.2,
                "nei_max": [690, 690], "hidden_dim": 64, "embed_dim": 64},
        "aminer": {"lr": 0.0001, "l2_coef": 1e-4, "dropout": 0.0, "tau": 0.9, "feat_mask": 0.0, "adj_mask": 0.0,
                   "nei_max": [8, 31], "hidden_dim": 64, "embed_dim": 64},
    }
    protocol_notes = [n.replace("code_meow", "code_adameow") for n in MEOWAdapter.protocol_notes[:2]] + [
        "fixed epochs on both sides: AdaMEOW's code trains all nb_epochs anyway (its loss patience is counted, never "
        "used: code_adameow/main.py:97-101); graphcl's loss_patience is 0; graphcl selects on validation "
        "(best_valid), the reference keeps the last epoch ('last')",
        "own.final_test: the reference's own evaluation (code_adameow/utils/evaluate.py, 50 logistic regressions "
        "per split, test at the best validation iteration; 10 sklearn k-means) of get_embeds() at the last epoch "
        "(its every-100-epochs schedule after start_eval moved there by a patch)",
        MEOWAdapter.protocol_notes[4].replace("main.py:21-24", "code_adameow/main.py:26-29"),
    ]
    findings: list[str] = []

    def patches(self, ctx: RunContext) -> list[Patch]:
        c = self.code_dir
        return [
            *hook_patches(c),
            Patch(f"{c}/main.py", "    mask_feat = mask_features(feat, args.feat_mask)\n",
                  "    mask_feat = ([mask_feature(sp.eye(f.shape[0]), args.feat_mask) for f in feat]\n"
                  "                 if isinstance(feat, list) else mask_features(feat, args.feat_mask))\n",
                  "AMiner one-hot features: the code's own mask_feature on each meta-path's identity (sp.eye)"),
            Patch(f"{c}/main.py", "    period = 100\n",
                  "    period = args.nb_epochs  # parity: its own evaluation once, at the last epoch\n",
                  "its own evaluation (every 100 epochs after start_eval) once, at the last epoch of the budget "
                  "(--start_eval -1 on the command line)"),
            Patch(f"{c}/main.py", _LOOP,
                  "        parity_meow.refhook.epoch_start()\n" + _LOOP + "        parity_meow.refhook.train_done()\n"
                  "        parity_meow.epoch_end(epoch, loss.item(), model, lambda: parity_meow.fine_view_adameow("
                  "model, feats, mask_feat, adjs, mask_adjs))\n",
                  "the epoch's training clock; a PARITY_JSON record per epoch with graphcl's probe every 20 "
                  "epochs and at the last"),
            Patch(f"{c}/module/adameow.py", "self.nei_index = [i.cuda() for i in nei_index]",
                  "self.nei_index = [i for i in nei_index]", "CPU (unconditional .cuda())"),
            Patch(f"{c}/module/adameow.py", "h_nei.append(F.elu(self.dropout(self.fc_list[i-1](feats[i]))))",
                  "h_nei.append(F.elu(self.dropout(self.fc_list[i](feats[i]))))",
                  "AMiner one-hot features: author/reference take their own projection (aggregate_nei_aminer)"),
            Patch(f"{c}/module/adameow.py", _WEIGHT, _WEIGHT_BLOCKS,
                  "memory: the N^2 x 64 pair tensors (about 17 GB on ACM) on a shared 23 GB machine; the same "
                  "weights, exact gradients (blocks of 256 anchor rows, recomputed in the backward)"),
            Patch(f"{c}/module/preprocess.py", "astype(np.float)", "astype(float)",
                  "numpy >= 1.24 removed the np.float alias (same dtype)", count=2),
            Patch(f"{c}/utils/evaluate.py", "    for _ in range(50):\n",
                  f"    for _ in range({OWN_PROBE_RUNS}):  # parity: fewer of its logistic-regression runs\n",
                  f"CPU time: its own closing evaluation (own.final_test) averages {OWN_PROBE_RUNS} instead of 50 "
                  "logistic-regression runs per split (each 200 iterations with 4 sklearn f1_score calls: about "
                  "20 min per run on this loaded 2-core machine with 50); the same estimator of the same mean, "
                  "noisier"),
            Patch(f"{c}/utils/load_data.py", AMINER_FEATS, AMINER_ONEHOT,
                  "AMiner: one-hot features (sparse identities) instead of the metapath2vec files absent from the "
                  "repository (HeCo's AMiner has no features)"),
        ]

    def reference_args(self, ctx: RunContext) -> list[str]:
        return ["--seed", str(ctx.seed), "--nb_epochs", str(ctx.epochs), "--patience", str(ctx.epochs + 1),
                "--start_eval", "-1", "--auc_limit", "-1"]

    def parse_reference(self, ctx: RunContext, log: str) -> list[dict[str, Any]]:
        return parse_adameow_log(log)

    def ours_config(self, dataset: str) -> dict[str, Any]:
        h = self.hyper(dataset)
        cfg = {"lr": h["lr"], "weight_decay": h["l2_coef"], "dropout": h["dropout"], "tau": h["tau"],
               "feat_mask": h["feat_mask"], "adj_mask": [h["adj_mask"]], "nei_max": h["nei_max"],
               "hidden_dim": h["hidden_dim"], "embed_dim": h["embed_dim"], "loss_patience": 0, **self.probe}
        if dataset == "aminer":
            cfg.update({"target_projection": "per-metapath", "identity_feat_mask": True, "data.path_counts": False})
        return cfg


ADAPTER = AdaMEOWAdapter()
