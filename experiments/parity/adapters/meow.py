"""Parity adapter: MEOW, reference jianxiangyu/MEOW ``code_meow`` (``main.py``, ``module/``, ``utils/``).

Data: HeCo's folders under ``<data-root>/hetero/heco/<name>`` as graphcl loads them
(:func:`graphcl.data.hetero.load_hetero_dataset`), written in the reference's format into the
temporary copy's ``data/<name>/`` (its ``load_data`` reads ``../data/<name>/`` from ``code_meow``):
labels, the 20/40/60 splits and the feature files copied; ``pap``/``psp`` (``pap``/``prp``) from
graphcl's meta-path graphs (ACM: path counts composed from ``pa.txt``/``ps.txt``, equal entry for
entry to the ``.npz`` files in the authors' ``data/acm``; AMiner: HeCo's binary files, as the
authors' code reads them); ``nei_<x>.npz`` (the schema neighbours as a sparse 0/1 paper x x matrix,
the authors' format) from graphcl's relation edges. AMiner: the authors' loader reads 64-d
metapath2vec features that are not in its repository; both sides use one-hot features (HeCo's
AMiner has none either), patched into ``load_aminer`` as sparse identities.

Evaluation on both sides: graphcl's hetero probe (``graphcl/eval/tasks/hetero_probe.py``) every
``eval_every`` epochs and at the last; the reference's own closing evaluation (50 logistic-regression
runs per split, test at the best validation iteration; 10 sklearn k-means) is parsed as
``own.final_test``.
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
import shlex
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from experiments.parity.adapter import Adapter, Patch, PatchError, RunContext
from experiments.parity.summary import attach_own_scores, parse_records

__all__ = ["MEOWAdapter", "ADAPTER", "AMINER_FEATS", "AMINER_ONEHOT", "authors_params", "hook_patches", "parse_meow_log",
           "heco_to_meow", "merge_results", "SHIMS"]

SHIMS = Path(__file__).resolve().parents[1] / "shims" / "meow"
RATIOS = (20, 40, 60)
#: logistic-regression runs of the reference's own closing evaluation (its code: 50; see the patch)
OWN_PROBE_RUNS = 10
#: graphcl's hetero probe (graphcl/eval/tasks/hetero_probe.py HETERO_TASK_DEFAULTS), both sides
PROBE: dict[str, Any] = {"probe_normalize": "auto", "probe_epochs": 300, "probe_lr": 0.01, "cluster": True,
                         "cluster_seeds": 5}
METRICS = ["micro_f1", "macro_f1", *[f"{m}_{r}" for m in ("macro_f1", "micro_f1", "auc") for r in RATIOS],
           "nmi", "ari"]

_TEST = re.compile(r"\[Test Classification\] Macro-F1_mean: ([0-9.]+) var: [0-9.]+\s+Micro-F1_mean: ([0-9.]+) "
                   r"var: [0-9.]+ auc: ([0-9.]+) var: [0-9.]+")
_CLUSTER = re.compile(r"\[Clustering\](?: Epoch: \d+)? NMI: ([0-9.]+)\s+ARI: ([0-9.]+)")


def parse_meow_log(log: str, ratios: tuple[int, ...] = RATIOS) -> list[dict[str, Any]]:
    """The hook's ``PARITY_JSON`` records of a MEOW/AdaMEOW reference log plus the reference's own
    closing evaluation as ``own.final_test`` of the last record: ``macro_f1_r``/``micro_f1_r``/
    ``auc_r`` from its ``[Test Classification]`` lines (in split order, percentages / 100; the LAST
    ``len(ratios)`` such lines) and ``nmi``/``ari`` from its last ``[Clustering]`` line."""
    records = parse_records(log)
    tests = _TEST.findall(log)
    final: dict[str, float] = {}
    if len(tests) >= len(ratios):
        for r, (ma, mi, auc) in zip(ratios, tests[-len(ratios):]):
            final.update({f"macro_f1_{r}": float(ma) / 100, f"micro_f1_{r}": float(mi) / 100,
                          f"auc_{r}": float(auc) / 100})
        final["macro_f1"] = sum(final[f"macro_f1_{r}"] for r in ratios) / len(ratios)
        final["micro_f1"] = sum(final[f"micro_f1_{r}"] for r in ratios) / len(ratios)
    clusters = _CLUSTER.findall(log)
    if clusters:
        final.update({"nmi": float(clusters[-1][0]) / 100, "ari": float(clusters[-1][1]) / 100})
    return attach_own_scores(records, [], final or None)


def authors_params(params_py: Path, dataset: str) -> dict[str, Any]:
    """The argparse defaults of ``<dataset>_params()`` in the reference's ``utils/params.py`` (read with
    :mod:`ast`, not executed), keyed by option name without dashes (``hidden-dim`` -> ``hidden_dim``)."""
    tree = ast.parse(params_py.read_text(encoding="utf-8"))
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == f"{dataset}_params"), None)
    if fn is None:
        raise PatchError(f"{params_py} has no {dataset}_params(); is the checkout at the recorded commit?")
    out: dict[str, Any] = {}
    for node in ast.walk(fn):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument" and node.args and isinstance(node.args[0], ast.Constant)):
            default = next((k.value for k in node.keywords if k.arg == "default"), None)
            if default is not None:
                out[str(node.args[0].value).lstrip("-").replace("-", "_")] = ast.literal_eval(default)
    return out


def _csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> Any:
    import scipy.sparse as sp
    return sp.csr_matrix((values.astype(np.float64), (rows, cols)), shape=shape)


def heco_to_meow(data: Any, source: Path, dest: Path, schema: dict[str, str]) -> dict[str, Any]:
    """Write graphcl's HeteroData ``data`` (loaded from the HeCo folder ``source``) in MEOW's format
    into ``dest``: ``labels.npy``, ``{train,val,test}_{20,40,60}.npy`` and ``<x>_feat.npz`` copied from
    ``source``; ``<metapath>.npz`` from graphcl's meta-path graphs (values = graphcl's edge weights);
    ``nei_<x>.npz`` (target x x, 0/1) from the relation ``schema[x]`` (e.g. ``{"a": "pa"}``).
    Returns the written files' sha256."""
    import scipy.sparse as sp
    t = data.target_type
    n = int(data[t].num_nodes)
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(source.iterdir()):
        if f.name == "labels.npy" or re.fullmatch(r"(train|val|test)_\d+\.npy", f.name) or f.name.endswith("_feat.npz"):
            shutil.copy2(f, dest / f.name)
    for m in data.metapaths:
        store = data[t, m, t]
        ei = store.edge_index.numpy()
        sp.save_npz(dest / f"{m}.npz", _csr(ei[0], ei[1], store.edge_weight.double().numpy(), (n, n)))
    for letter, rel in schema.items():
        other = data.type_letters[letter]
        ei = data[t, rel, other].edge_index.numpy()
        m = int(data[other].num_nodes)
        mat = _csr(ei[0], ei[1], np.ones(ei.shape[1]), (n, m))
        mat.data[:] = 1.0  # duplicate pairs (none in HeCo's files) would sum
        sp.save_npz(dest / f"nei_{letter}.npz", mat)
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(dest.iterdir()) if f.is_file()}


_LOOP = ("        model.train()\n        optimizer.zero_grad()\n"
         "        loss = model(feats, mask_feat, mask_adjs, adjs_norm, num_clusters)\n"
         "        loss.backward()\n        optimizer.step()\n")

AMINER_FEATS = ('    feat_p_pap = np.load(path + "feat_p_pap.w1000.l100.npy").astype(\'float\')\n'
                 '    feat_p_prp = np.load(path + "feat_p_prp.w1000.l100.npy").astype(\'float\')\n'
                 '    feat_a = np.load(path + "feat_a.w1000.l100.npy").astype(\'float\')\n'
                 '    feat_r = np.load(path + "feat_r.w1000.l100.npy").astype(\'float\')\n\n'
                 '    feat_p = th.stack((th.FloatTensor(feat_p_pap),th.FloatTensor(feat_p_prp)))\n'
                 '    feat_a = th.FloatTensor(feat_a)\n'
                 '    feat_r = th.FloatTensor(feat_r)\n')
AMINER_ONEHOT = ("    # parity: one-hot features (HeCo's AMiner; the metapath2vec files are not in the repository)\n"
                  "    feat_p = [sparse_mx_to_torch_sparse_tensor(sp.eye(type_num[0])) for _ in range(2)]\n"
                  "    feat_a = sparse_mx_to_torch_sparse_tensor(sp.eye(type_num[1]))\n"
                  "    feat_r = sparse_mx_to_torch_sparse_tensor(sp.eye(type_num[2]))\n")


def hook_patches(c: str) -> list[Patch]:
    """The patches MEOW's and AdaMEOW's ``main.py`` (in folder ``c``) share: the evaluation hook,
    the thread count, the data check and AMiner's one-hot input widths."""
    return [
        Patch(f"{c}/main.py", "warnings.filterwarnings('ignore')\n",
              "warnings.filterwarnings('ignore')\nimport parity_meow\n",
              "load the evaluation hook (experiments/parity/shims/meow/parity_meow.py)"),
        Patch(f"{c}/main.py", "torch.cuda.manual_seed(seed)\n",
              "torch.cuda.manual_seed(seed)\nparity_meow.setup()\n", "torch thread count (seeding is its own)"),
        Patch(f"{c}/main.py", "        load_data(args.dataset, args.ratio, args.type_num)\n",
              "        load_data(args.dataset, args.ratio, args.type_num)\n"
              "    parity_meow.check_data(label, idx_train, idx_val, idx_test)\n",
              "check that the reference's labels and 20/40/60 splits are graphcl's"),
        Patch(f"{c}/main.py", "        feats_dim_list = [64,64,64]\n",
              "        feats_dim_list = [feats[0][0].shape[1], feats[1].shape[1], feats[2].shape[1]]\n",
              "AMiner one-hot features: the input widths of the paper/author/reference projections"),
    ]


class MEOWAdapter(Adapter):
    name = "meow"
    method = "meow"
    reference_repo = "jianxiangyu/MEOW"
    code_dir = "code_meow"
    entry_file = "code_meow/main.py"
    task = "hetero"
    metrics = METRICS
    eval_every = 20
    fixed_epochs = True
    probe = PROBE
    #: graphcl name, how graphcl reads the meta-path values, the schema relations (MEOW's nei_<x>)
    datasets = {"acm": {"graphcl_name": "acm", "path_counts": True, "schema": {"a": "pa", "s": "ps"}},
                "aminer": {"graphcl_name": "aminer", "path_counts": False, "schema": {"a": "pa", "r": "pr"}}}
    #: the authors' params.py defaults used on both sides (code_meow/utils/params.py, commit 6a072d7)
    _HYPER = {
        "acm": {"lr": 0.0007, "l2_coef": 0, "dropout": 0.2, "tau": 0.4, "feat_mask": 0.3, "adj_mask": [0.3, 0.2],
                "nei_max": [110, 700], "num_cluster": [100, 300], "lam_proto": 1, "hidden_dim": 64,
                "embed_dim": 64},
        "aminer": {"lr": 0.0007, "l2_coef": 0, "dropout": 0.2, "tau": 0.9, "feat_mask": 0.2,
                   "adj_mask": [0.7, 0.4], "nei_max": [5, 21], "num_cluster": [500, 1200], "lam_proto": 0.1,
                   "hidden_dim": 64, "embed_dim": 64},
    }
    protocol_notes = [
        "valid/test of both sides: graphcl's hetero probe (graphcl/eval/tasks/hetero_probe.py, the evaluation of "
        "`graphcl train meow`) every 20 epochs and at the last: per HeCo split (20/40/60 labelled nodes per class, "
        "the files of the data folder; 1000 validation and 1000 test nodes) a logistic-regression probe (Adam, 300 "
        "epochs, lr 0.01, weight decay and L2/z-score input normalization chosen on validation accuracy); 'valid' = "
        "validation micro-F1 averaged over the 3 splits (the selection metric, metrics[0] of valid), test = "
        "macro_f1_r / micro_f1_r / auc_r (one-vs-rest macro AUC) per split, macro_f1 / micro_f1 their means, and "
        "k-means (k = classes, 5 seeds) NMI/ARI on the same embeddings",
        "embeddings: graphcl's embed() (the attention-fused fine view, eval mode, after the epoch's step); for the "
        "reference the same quantity recomputed by the hook from its own model in eval mode after the step "
        "(valid/test), and, under 'stale', the embeddings the reference itself evaluates: get_embeds() = the fine "
        "view of the epoch's TRAINING forward (dropout on, before the step; code_meow/main.py:90)",
        "fixed epochs on both sides (the harness's --epochs): the reference's training-loss patience rule "
        "(code_meow/main.py:78-86, patience 30 ACM / 25 AMiner, cap 10000) is switched off with --patience "
        "epochs+1 on its command line, graphcl's loss_patience with 0; graphcl selects on validation "
        "(best_valid), the reference keeps the last epoch ('last')",
        "own.final_test (the reference's own printout, code_meow/utils/evaluate.py:12-134): per split 50 logistic "
        "regressions (lr eva_lr, wd eva_wd, 200 iterations each), the test score at the iteration of best "
        "validation score, means over the 50; k-means NMI/ARI mean of 10 sklearn KMeans fits; on get_embeds() "
        "of the last epoch (the 'stale' embeddings)",
        "seeding: the reference seeds random/numpy/torch with --seed (main.py:21-24) = the run's seed; graphcl "
        "draws from generators seeded with the run's seed: the two sides' streams differ, so the comparison is "
        "between seed distributions",
        "AMiner: the authors' loader (utils/load_data.py:96-99) expects 64-d metapath2vec features that are not in "
        "its repository; both sides use one-hot features (as HeCo's AMiner files, which have none): a sparse "
        "identity per type on the reference (patched), graphcl's featureless types on ours",
    ]
    findings = [
        "ACM meta-path graphs: graphcl composes path counts from pa.txt/ps.txt (graphcl/data/hetero.py:324-334); "
        "they equal the authors' data/acm/pap.npz and psp.npz entry for entry (checked: max |difference| 0, "
        "57,853 and 4,338,213 entries), so the reference runs on its own ACM data; labels and the 20/40/60 splits "
        "are checked equal at the start of every reference run (PARITY_CHECK)",
        "k-means of the weights and prototypes: the reference clusters the fine view with faiss on an "
        "inner-product index (code_meow/module/cluster.py:15-33: GpuIndexFlatIP, nredo 5, niter 20) with the SAME "
        "seed every epoch (cluster.py:19, clus.seed = the run index 0/1); graphcl's preset clusters with "
        "Euclidean k-means (graphcl/models/node/meow.py:284 kmeans_metric 'l2') and a new seed per epoch "
        "(meow.py:240-242, kmeans_seed 'per-epoch'). Both are options in graphcl (kmeans_metric: ip, "
        "kmeans_seed: fixed); the parity run uses graphcl's defaults. Here faiss itself is replaced by "
        "shims/meow/faiss.py (numpy, same algorithm, other random draws)",
        "prototype concentration phi: the reference uses sqrt of the faiss inner product as the 'distance' "
        "(cluster.py:47: (D**0.5).mean()/log(n+5)); graphcl's default is PCL's Euclidean distance with alpha "
        "10 (graphcl/losses/prototypical.py:44-68, form 'pcl'; 'meow-code' is the reference's form, meow.py:285)",
        "ProtoNCE: the reference divides by mean_k * N (code_meow/module/contrast.py:35) where graphcl's "
        "cross-entropy divides by the sum (graphcl/losses/prototypical.py:93-98): a constant log(N/K) in the "
        "loss value (the 'loss' curves differ by it), the same gradients",
        "meta-path graph normalization: the reference's normalize_adj returns (A D^-1/2)^T D^-1/2 "
        "(code_meow/module/preprocess.py:16-29, line 24), so torch.spmm(adj, x) aggregates row i over the nodes whose "
        "top-k holds i (the transpose of the PathSim top-k graph); graphcl aggregates row i over its own top-k "
        "(graphcl/data/metapath.py:122-127 sym_normalize, graphcl/models/node/meow_views.py _graph); D = row sums "
        "of the top-k graph on both sides",
        "measured on ACM (the reference's top-k rule and normalize_adj replicated in numpy on the same data, "
        "against graphcl's pathsim_topk/sym_normalize): PAP (k = 110) is nearly symmetric and the two graphs agree "
        "(57,782 of 57,797 entries common, the same row sums); on PSP (k = 700; one subject per paper, so every "
        "PathSim value is 1 and the top-700 of up to ~1,900 tied neighbours is a tie-break) only 814,089 of the "
        "2,147,611 kept entries are common, and with the reference's transpose 1,252 of the 4,019 papers are in "
        "nobody's top-700: their rows of the reference's PSP graph are EMPTY (no self loop either), so their PSP "
        "fine view is the same constant for all of them (row sums of the reference's PSP operator: min 0, median "
        "1, max 2.63; graphcl's: all 1). The most likely cause of the reference's lower NMI/ARI at the same budget "
        "(a graphcl run with the reference's k-means options kept its NMI: see the README). graphcl option "
        "metapath_layout: reference_transposed (graphcl/models/node/meow_views.py reference_topk, metapath_graphs, "
        "masked_graph; default own_topk unchanged) reproduces the reference's operators (the same argsort tie "
        "order, the transpose; on ACM equal to the numpy replication to 1e-6, tests/test_meow_metapath_layout.py); "
        "run as the variant results file meow_acm_reference_transposed.json",
        "AMiner top-k ties: HeCo's AMiner pap/prp are boolean, so every PathSim value is 1 and the reference's "
        "top-k (preprocess.py:78-99, line 90: np.argsort(...)[:, ::-1][:, :k]) keeps an arbitrary k of the tied "
        "neighbours (numpy's sort order); graphcl keeps the node itself, then by column "
        "(graphcl/data/metapath.py:77-120): the two sides' AMiner graphs (k = 5 and 21 of many ties) differ",
        "embeddings evaluated: the reference evaluates get_embeds() = the fine view of the last TRAINING forward "
        "(dropout on, before the last step; code_meow/module/meow.py:77,150-151 and main.py:90); graphcl evaluates "
        "an eval-mode forward after the step (graphcl/models/node/meow.py:259-265). Both are recorded for the "
        "reference (valid/test = eval mode; 'stale' = its own)",
        "model selection and length: the reference stops on 30 (ACM) / 25 (AMiner) epochs without a lower "
        "training loss and evaluates the last epoch (main.py:78-86); graphcl's preset has the same rule "
        "(loss_patience) but selects the epoch on validation; the parity run trains a fixed number of epochs on "
        "both sides and reports both 'last' and 'best_valid'",
        "probes: the reference's own evaluation (code_meow/utils/evaluate.py:12-134) is a torch logistic "
        "regression with a FIXED lr/wd (ACM 0.03/0, AMiner 0.1/8e-4), the test score taken at the iteration "
        "of best validation score (per metric), mean of 50 runs; graphcl's hetero probe chooses weight decay "
        "and normalization on validation accuracy and reports the chosen probe's test scores "
        "(graphcl/eval/tasks/hetero_probe.py:63-84); k-means: 10 sklearn fits (evaluate.py:137-152) vs 5 "
        "seeded runs (hetero_probe.py:99-102)",
    ]
    environment = [
        {"what": "PYTHONPATH += experiments/parity/shims/meow, repository root",
         "reason": "faiss (faiss-gpu is not installed, no GPU): shims/meow/faiss.py, a numpy inner-product k-means "
                   "following faiss' Clustering (nredo restarts, niter Lloyd steps, empty clusters split); "
                   "parity_meow (the evaluation hook, graphcl's hetero probe) imported by the patched main.py"},
        {"what": "data/<name>/ of the temporary copy = our HeCo data in MEOW's format",
         "reason": "the same labels, splits, features and meta-path graphs as graphcl (checked at start: "
                   "PARITY_CHECK same_labels/same_splits)"},
    ]

    # ------------------------------------------------------------- data
    def load_data(self, dataset: str, data_root: Path) -> tuple[Any, dict[str, Any]]:
        """graphcl's HeteroData and its description (the HeCo folder's files' sha256, node counts,
        meta-path entries, split sizes of the 20-per-class split)."""
        from graphcl.data.hetero import load_hetero_dataset
        spec = self.datasets[dataset]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load_hetero_dataset(spec["graphcl_name"], str(data_root), path_counts=spec["path_counts"])
        source = Path(data_root) / "hetero" / "heco" / spec["graphcl_name"]
        files = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else []
        t = data.target_type
        store = data[t]
        desc: dict[str, Any] = {
            "source": str(source), "files_sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
            "nodes": {nt: int(data[nt].num_nodes) for nt in data.node_types},
            "metapaths": {m: int(data[t, m, t].edge_index.shape[1]) for m in data.metapaths},
            "metapath_values": dict(data.metapath_weights), "num_classes": int(data.num_classes),
            "train": int(store.train_mask[:, 0].sum()), "valid": int(store.val_mask[:, 0].sum()),
            "test": int(store.test_mask[:, 0].sum())}
        return data, desc

    def hyper(self, dataset: str) -> dict[str, Any]:
        return dict(self._HYPER[dataset])

    def prepare_reference(self, ctx: RunContext, split: Any) -> None:
        authors = authors_params(ctx.workdir / self.code_dir / "utils" / "params.py", ctx.dataset)
        differ = {k: (authors.get(k), v) for k, v in self.hyper(ctx.dataset).items() if authors.get(k) != v}
        if differ:
            raise PatchError(f"the checkout's {ctx.dataset}_params() differs from the recorded values "
                             f"(authors', recorded): {differ}; is the checkout at the recorded commit?")
        spec = self.datasets[ctx.dataset]
        dest = ctx.workdir / "data" / ctx.dataset
        if dest.exists():
            shutil.rmtree(dest)  # the authors' copy: replaced by ours
        heco_to_meow(split, ctx.data_root / "hetero" / "heco" / spec["graphcl_name"], dest, spec["schema"])

    # ------------------------------------------------------------- reference
    def patches(self, ctx: RunContext) -> list[Patch]:
        c = self.code_dir
        return [
            *hook_patches(c),
            Patch(f"{c}/main.py", "    mask_feat = mask_features(feat, args.feat_mask)\n",
                  "    mask_feat = ([mask_feature(sp.eye(f.shape[0]), args.feat_mask) for f in feat]\n"
                  "                 if isinstance(feat, list) else mask_features(feat, args.feat_mask))\n",
                  "AMiner one-hot features: the code's own mask_feature on each meta-path's identity (sp.eye), "
                  "as mask_features does per slice of its stacked features"),
            Patch(f"{c}/main.py", _LOOP,
                  "        parity_meow.refhook.epoch_start()\n" + _LOOP + "        parity_meow.refhook.train_done()\n"
                  "        parity_meow.epoch_end(epoch, loss.item(), model, lambda: parity_meow.fine_view_meow("
                  "model, feats, mask_feat, mask_adjs, adjs_norm))\n",
                  "the epoch's training clock; a PARITY_JSON record per epoch with graphcl's probe every 20 "
                  "epochs and at the last"),
            Patch(f"{c}/module/meow.py", "self.nei_index = [i.cuda() for i in nei_index]",
                  "self.nei_index = [i for i in nei_index]", "CPU (unconditional .cuda())"),
            Patch(f"{c}/module/meow.py", "h_nei.append(F.elu(self.dropout(self.fc_list[i-1](feats[i]))))",
                  "h_nei.append(F.elu(self.dropout(self.fc_list[i](feats[i]))))",
                  "AMiner one-hot features: author/reference take their own projection (feats_dim_list[1], [2]); "
                  "the code's fc_list[i-1] assumed all three inputs 64-d (aggregate_nei_aminer only)"),
            Patch(f"{c}/module/contrast.py", ".cuda()", "", "CPU (unconditional .cuda())", count=7),
            Patch(f"{c}/module/cluster.py", ".cuda()", "", "CPU (unconditional .cuda())", count=3),
            Patch(f"{c}/module/preprocess.py", "astype(np.float)", "astype(float)",
                  "numpy >= 1.24 removed the np.float alias (same dtype)"),
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

    def reference_paths(self, ctx: RunContext) -> list[Path]:
        return [SHIMS]

    def reference_env(self, ctx: RunContext) -> dict[str, str]:
        spec = self.datasets[ctx.dataset]
        return {"PARITY_HETERO": json.dumps({"name": spec["graphcl_name"], "root": str(ctx.data_root),
                                             "path_counts": spec["path_counts"]}),
                "PARITY_PROBE": json.dumps(self.probe), "PARITY_EPOCHS": str(ctx.epochs),
                "PARITY_EVAL_EVERY": str(self.eval_every)}

    def reference_args(self, ctx: RunContext) -> list[str]:
        """Options after ``main.py <dataset>``: seed, epochs, the patience rule off."""
        return ["--seed", str(ctx.seed), "--nb_epochs", str(ctx.epochs), "--patience", str(ctx.epochs + 1)]

    def reference_command(self, ctx: RunContext) -> list[str]:
        # its data path is ../data/<name>/ relative to code_meow: run there (exec: the same process)
        argv = [ctx.python, "main.py", ctx.dataset, *self.reference_args(ctx)]
        return ["sh", "-c", f"cd {self.code_dir} && exec " + " ".join(shlex.quote(a) for a in argv)]

    def parse_reference(self, ctx: RunContext, log: str) -> list[dict[str, Any]]:
        return parse_meow_log(log)

    # ------------------------------------------------------------- ours
    def ours_config(self, dataset: str) -> dict[str, Any]:
        """graphcl's preset for the dataset (the authors' values, graphcl's own defaults for the rest:
        see the findings), the loss-patience stop off, graphcl's hetero probe written out."""
        h = self.hyper(dataset)
        cfg = {"lr": h["lr"], "weight_decay": h["l2_coef"], "dropout": h["dropout"], "tau": h["tau"],
               "feat_mask": h["feat_mask"], "adj_mask": h["adj_mask"], "nei_max": h["nei_max"],
               "cluster_counts": h["num_cluster"], "lam_proto": float(h["lam_proto"]), "hidden_dim": h["hidden_dim"],
               "embed_dim": h["embed_dim"], "loss_patience": 0, **self.probe}
        if dataset == "aminer":
            cfg.update({"target_projection": "per-metapath", "identity_feat_mask": True, "data.path_counts": False})
        return cfg


ADAPTER = MEOWAdapter()


def merge_results(out: Path, inputs: list[Path]) -> Path:
    """Merge results files of the same settings (e.g. the reference side and our side run as two
    harness processes with ``--sides reference`` / ``--sides ours`` and different ``--out``) into
    ``out``: the union of their ``ok`` runs (a (side, seed) present twice is an error), the seeds'
    union, the reference block of the file holding reference runs, our command of the file holding
    ours, and the summary recomputed (:func:`experiments.parity.summary.summarize`)."""
    from experiments.parity.harness import _write, settings_hash
    from experiments.parity.summary import summarize
    docs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in inputs]
    if not docs:
        raise ValueError("merge_results: no input files")
    base = docs[0]
    for p, d in zip(inputs, docs):
        if d.get("settings_hash") != base.get("settings_hash") or d.get("adapter") != base.get("adapter"):
            raise ValueError(f"merge_results: {p} was written with other settings than {inputs[0]}")
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    merged = json.loads(json.dumps(base))
    for p, d in zip(inputs, docs):
        for r in d.get("runs", []):
            if r.get("status") != "ok":
                continue
            key = (r["side"], int(r["seed"]))
            if key in runs:
                raise ValueError(f"merge_results: {key[0]} seed {key[1]} is in more than one input ({p})")
            runs[key] = r
            if r["side"] == "reference" and d["reference"].get("command"):
                merged["reference"] = d["reference"]
            if r["side"] == "ours" and (d.get("ours") or {}).get("command"):
                merged["ours"] = d["ours"]
    merged["runs"] = [runs[k] for k in sorted(runs, key=lambda k: (k[1], k[0] != "reference"))]
    merged["settings"]["seeds"] = sorted({k[1] for k in runs} | set(base["settings"].get("seeds", [])))
    merged["settings_hash"] = settings_hash(merged["settings"])
    merged["summary"] = summarize(merged["runs"], merged["metrics"])
    try:  # the adapter's current notes and findings (a run may predate an added finding)
        from experiments.parity.adapter import load_adapter
        adapter = load_adapter(str(merged["adapter"]))
        merged["protocol"] = {"notes": list(adapter.protocol_notes), "findings": list(adapter.findings)}
    except ValueError:
        pass
    _write(Path(out), merged)
    return Path(out)


if __name__ == "__main__":
    import sys
    if len(sys.argv) < 4 or sys.argv[1] != "merge":
        print("usage: python -m experiments.parity.adapters.meow merge OUT.json IN1.json IN2.json ...",
              file=sys.stderr)
        sys.exit(2)
    print(merge_results(Path(sys.argv[2]), [Path(a) for a in sys.argv[3:]]))
