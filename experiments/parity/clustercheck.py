"""Step-by-step equivalence of gayanku/PAMC's and gayanku/SCGC's training objective and graphcl's
``pamc`` / ``scgc`` (same parameters, same graph, same pretrained encoder, same centres).

    python -m experiments.parity.clustercheck pamc --checkout /tmp/parity-refs/PAMC --dataset cora
    python -m experiments.parity.clustercheck scgc --checkout /tmp/parity-refs/SCGC --dataset citeseer

Builds graphcl's model with the adapter's config (its pretrained encoder and k-means centres),
writes our graph and that encoder in SDCN's files in a temporary folder, imports the reference's
``train.py`` (its functions and model classes; ``h5py`` stubbed, ``munkres`` from
``shims/pamc``; nothing patched, nothing copied into this repository) and builds its
``SCGC_TRIM`` from those files with our centres as its ``cluster_layer``; its influence graph comes
from its own ``load_graph`` + ``get_A_r_flexSP`` (PamC) / ``get_A_r_flex`` (SCGC*). Each step
computes the reference's loss exactly as its training loop does (P from a first forward pass, then
KL + contrastive term on a second one) and ours (``step_loss``), prints both losses and their
parts, the largest gradient difference, then takes an Adam step on both (the configured lr) and
prints the largest parameter difference. PamC also gets :func:`empty_cluster_probe` (one empty hard
cluster: the reference's term is NaN, graphcl's leaves the cluster out).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from experiments.parity.adapter import load_adapter
from experiments.parity.load_module import import_from

__all__ = ["main", "param_map", "step_compare"]

SHIMS = Path(__file__).resolve().parent / "shims" / "pamc"


def param_map(ours: Any) -> dict[str, str]:
    """Reference (``SCGC_TRIM``) parameter name -> our parameter name."""
    names = ("enc_1", "enc_2", "enc_3", "z_layer")
    out = {f"ae.{n}.{p}": f"encoder.layers.{i}.{p}" for i, n in enumerate(names) for p in ("weight", "bias")}
    out["cluster_layer"] = "centers"
    return out


def _reference(checkout: Path) -> types.ModuleType:
    """The reference's ``train.py`` as a module (its ``__main__`` block does not run)."""
    sys.modules.setdefault("h5py", types.ModuleType("h5py"))  # imported by utils.py, never used there
    for p in (str(SHIMS), str(checkout)):
        if p not in sys.path:
            sys.path.insert(0, p)
    return import_from(checkout / "train.py", "parity_sdcn_train")


def step_compare(method: str, checkout: Path, steps: int, dataset: str = "cora", data_root: str | None = None,
                 seed: int = 0) -> list[dict[str, Any]]:
    """One row per Adam step: both losses and parts, max gradient and parameter differences (PamC:
    then the :func:`empty_cluster_probe` row)."""
    from experiments.parity.nodecluster import write_sdcn
    from graphcl.data import load
    from graphcl.registry import get_method
    adapter = load_adapter(method)
    spec_d = adapter.datasets[dataset]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load(spec_d["graphcl_name"], root=data_root)
    spec = get_method(method)
    cfg = {**spec.defaults, **spec.presets.get(dataset, {}), **adapter.ours_config(dataset), "seed": seed}
    ours = spec.build(data, cfg, "cpu")
    ours.train()
    c = ours.config
    alpha, beta, tau, order = float(c["alpha"]), float(c["beta"]), float(c["tau"]), int(c["order"])
    train = _reference(checkout)
    x = (data.x.to_dense() if data.x.layout != torch.strided else data.x).float()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        name = spec_d["sdcn_name"]
        write_sdcn(Path(tmp), name, x.numpy(), data.y.numpy(), data.edge_index.numpy(),
                   {"encoder": ours.encoder.state_dict()})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = train.SCGC_TRIM(500, 500, 2000, 2000, 500, 500, n_input=x.size(1), n_z=int(c["n_z"]),
                                  n_clusters=ours.num_clusters, load_from=f"{tmp}/data/{name}.pkl", mode="full",
                                  v=1.0)
            adj = train.load_graph(tmp, name, None)
            adj = (train.get_A_r_flexSP(adj, order, cumulative=True) if method == "pamc"
                   else train.get_A_r_flex(adj, order, cumulative=True))
    with torch.no_grad():
        ref.cluster_layer.copy_(ours.centers)
    names = param_map(ours)
    ref_p, our_p = dict(ref.named_parameters()), dict(ours.named_parameters())
    missing = (set(names) - set(ref_p)) | (set(names.values()) - set(our_p))
    if missing or len(ref_p) != len(our_p):
        raise RuntimeError(f"parameter maps differ: {sorted(missing)}; reference {sorted(ref_p)}, ours {sorted(our_p)}")
    opt_r = torch.optim.Adam(ref.parameters(), lr=float(c["lr"]))
    opt_o = torch.optim.Adam(ours.parameters(), lr=float(c["lr"]))
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        opt_r.zero_grad()
        opt_o.zero_grad()
        # the reference's loop body (train.py: P from a first forward pass, then the loss)
        _, tmp_q, _, _, _, _ = ref(x, adj)
        p = train.target_distribution(tmp_q.data)
        _, q, _, z, _, _ = ref(x, adj)
        kl = F.kl_div(q.log(), p, reduction="batchmean")
        if method == "pamc":
            cc = torch.sum(z.unsqueeze(1) * F.one_hot(q.detach().argmax(1)).unsqueeze(2), dim=0)
            contrast = train.NcontrastCCSP(z, train.get_feature_dis(cc), adj, tau=tau)
        else:
            contrast = train.Ncontrast(train.get_feature_dis(z), adj, tau=tau)
        loss_r = beta * kl + alpha * contrast
        out = ours.step_loss(gen)
        loss_r.backward()
        out["loss"].backward()
        grad = max(float((ref_p[r].grad - our_p[o].grad).abs().max()) for r, o in names.items())
        scale = max(float(our_p[o].grad.abs().max()) for o in names.values())
        opt_r.step()
        opt_o.step()
        with torch.no_grad():
            param = max(float((ref_p[r] - our_p[o]).abs().max()) for r, o in names.items())
        rows.append({"step": step, "loss_ref": float(loss_r.detach()), "loss_ours": float(out["loss"].detach()),
                     "kl_ref": float(kl.detach()), "kl_ours": float(out["kl"]),
                     "contrast_ref": float(contrast.detach()), "contrast_ours": float(out["contrast"]),
                     "max_grad_diff": grad, "max_grad": scale, "max_param_diff": param})
    if method == "pamc":
        rows.append(empty_cluster_probe(train, ours, x, adj, tau))
    return rows


def empty_cluster_probe(train: types.ModuleType, ours: Any, x: torch.Tensor, adj: Any, tau: float) -> dict[str, Any]:
    """PamC's contrastive term with one EMPTY hard cluster below the largest used index (q's
    column 1 zeroed, one node forced to cluster K-1), on the current encoder: the reference's
    NcontrastCCSP(z, get_feature_dis(cc)) and graphcl's meta_node_loss(..., 'hard')."""
    from graphcl.losses.meta_node import meta_node_loss
    with torch.no_grad():
        z = ours.encoder(ours.x)
        q = ours.assignments(z).exp()
        q[:, 1] = 0.0
        q[0] = 0.0
        q[0, -1] = 1.0
        cc = torch.sum(z.unsqueeze(1) * F.one_hot(q.argmax(1)).unsqueeze(2), dim=0)
        ref = train.NcontrastCCSP(z, train.get_feature_dis(cc), adj, tau=tau)
        mine = meta_node_loss(z, ours.graph, q, tau, assignment="hard")
    return {"empty_cluster_probe": True, "clusters_used": int(torch.unique(q.argmax(1)).numel()),
            "contrast_ref": float(ref), "contrast_ours": float(mine)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("method", choices=["pamc", "scgc"])
    ap.add_argument("--checkout", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--dataset", default="cora", choices=["cora", "citeseer"])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = step_compare(args.method, args.checkout.resolve(), args.steps, args.dataset, args.data_root, args.seed)
    for r in rows:
        if r.get("empty_cluster_probe"):
            print(f"empty hard cluster (cluster 1 of {r['clusters_used'] + 1}): contrastive term reference "
                  f"{r['contrast_ref']} ours {r['contrast_ours']:.7f}")
            continue
        print(f"step {r['step']:3d}  loss ref {r['loss_ref']:.7f} ours {r['loss_ours']:.7f}  "
              f"(KL {r['kl_ref']:.7f} / {r['kl_ours']:.7f}, contrast {r['contrast_ref']:.7f} / "
              f"{r['contrast_ours']:.7f})  max|Δgrad| {r['max_grad_diff']:.1e} (max|grad| {r['max_grad']:.1e})  "
              f"max|Δparam| {r['max_param_diff']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
