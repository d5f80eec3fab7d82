"""Render every parity results file into ``experiments/results/parity.md`` and curves PNGs.

    python -m experiments.parity.report [--results experiments/results/parity] \\
        [--out experiments/results/parity.md]

One table row per results file (method x dataset) with the test metrics selected on validation
(our protocol), then the same under the authors' protocols (last epoch; best test epoch, which is
test-set selection), s/epoch and peak-memory ratios; the per-file details (commands, patches,
protocol notes, hardware) follow. Summaries are re-derived from the runs (schema ``parity/1``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from experiments.parity.summary import derive_final, summarize

__all__ = ["load_results", "render", "plot_curves", "file_stem", "main"]

REPO = Path(__file__).resolve().parents[2]
SELECTION_LABEL = {"best_valid": "selected on validation (ours)", "last": "last epoch (authors' protocol)",
                   "best_test": "best test epoch (test-set selection)"}


def load_results(folder: Path) -> list[dict[str, Any]]:
    """Every ``*.json`` of schema ``parity/1`` under ``folder``, sorted by file name; summaries
    re-derived from the runs."""
    docs = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("schema") != "parity/1":
            continue
        for run in doc.get("runs", []):
            run["final"] = derive_final(run.get("curves", []), doc["metrics"][0])
        doc["summary"] = summarize(doc.get("runs", []), doc["metrics"])
        doc["_path"] = path
        docs.append(doc)
    return docs


def file_stem(doc: dict[str, Any]) -> str:
    """``<adapter>_<dataset>``, plus ``_<variant>`` for a variant of graphcl's side (the harness'
    ``--variant``): the results file's and its PNG's name."""
    variant = (doc.get("variant") or {}).get("name")
    return f"{doc['adapter']}_{doc['dataset']}" + (f"_{variant}" if variant else "")


def _variant_suffix(doc: dict[str, Any]) -> str:
    """`` (ours: key=value, ...)`` for a variant of graphcl's side, else empty."""
    variant = doc.get("variant") or {}
    extra = ", ".join(f"{k}={v}" for k, v in (variant.get("ours_overrides") or {}).items())
    return f" (ours: {extra or variant.get('name')})" if variant else ""


def _label(doc: dict[str, Any]) -> str:
    """``method / dataset``, plus the variant's graphcl overrides where the file is a variant."""
    return f"{doc['method']} / {doc['dataset']}" + _variant_suffix(doc)


def _ms(entry: list[float] | None, digits: int = 4) -> str:
    if not entry:
        return "—"
    return f"{entry[0]:.{digits}f} ± {entry[1]:.{digits}f}"


def _yes(flag: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "—"}[flag]


def _ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _cell(block: dict[str, Any], metrics: list[str]) -> str:
    return "<br>".join(f"{m} {_ms(block.get(m))}" for m in metrics)


def _row(doc: dict[str, Any], selection: str) -> str:
    s, ref, st = doc["summary"], doc["reference"], doc["settings"]
    metrics = doc["metrics"]
    spread = "<br>".join(f"{m} {_yes(s['within_spread'][selection].get(m))}" for m in metrics)
    data = st.get("data", {})
    return "| " + " | ".join([
        _label(doc), f"{ref['repo']}@`{str(ref['commit'])[:10]}`",
        f"{data.get('name') or Path(str(data.get('source', '?'))).name} "
        f"({data.get('train', '?')}/{data.get('valid', '?')}/"
        f"{data.get('test', '?')})", str(st["epochs"]),
        f"{len(s['reference']['seeds'])} / {len(s['ours']['seeds'])}",
        _cell(s["reference"][selection], metrics), _cell(s["ours"][selection], metrics), spread,
        _ratio(s["time_ratio"]), _ratio(s["memory_ratio"])]) + " |"


def render(docs: list[dict[str, Any]], png_dir: Path, md_path: Path) -> str:
    """The Markdown report of ``docs`` (PNG links relative to ``md_path``)."""
    head = ("| method / data | reference@commit | split (train/valid/test) | epochs | seeds ref / ours | "
            "reference test, mean ± std | ours test, mean ± std | within spread | s/epoch ours/ref | "
            "peak RSS ours/ref |")
    sep = "|" + "---|" * 10
    lines = ["# Parity: the authors' code vs graphcl", "",
             "Written by `python -m experiments.parity.report` from `experiments/results/parity/*.json` "
             "(harness: `experiments/parity/`, see its README). Both sides train on the same split "
             "(ours, written in the reference's format) with the same hyperparameters, a fixed number of "
             "epochs, no early stopping; both are evaluated after every epoch by graphcl's evaluator (exact "
             "per-user means; test excludes train and validation items). 'within spread': our mean lies in "
             "the reference's mean ± 2 std or its [min, max] over seeds. Ratios < 1: ours is faster / "
             "smaller. Times are training seconds per epoch (no evaluation), one torch thread per side, on "
             "a shared 2-core machine under load from other jobs (the sides alternate seed by seed): "
             "compare ratios, not absolute times.", "",
             "Node methods (task `node`: GRACE, CSGCL on Cora/CiteSeer): the metrics are graphcl's node probe "
             "(`acc` = test accuracy, `f1_mean` = test macro-F1, means over 5 random 10/10/80 probe splits drawn "
             "from probe seeds 0-4, the same splits on both sides; 'valid' = the probe's validation accuracy), "
             "run on both sides' embeddings every 20 epochs and at the last; their final metric is the last "
             "epoch's (the papers' fixed-epoch protocol), the 'last epoch' table below. The split column gives the "
             "probe split's sizes.", "",
             "Node clustering (task `cluster`: SCGC*, PamC on Cora/CiteSeer): graphcl's clustering evaluation on both "
             "sides (`experiments/parity/nodecluster.py`): `acc`/`nmi`/`ari`/`f1` of the model's own clusters "
             "(argmax of its soft assignments Q) on all nodes, `kmeans_acc`/`kmeans_nmi` of k-means (5 seeds) on its "
             "embeddings, every 10 epochs and at the last; no validation split, so the final metric is the last "
             "epoch's ('last epoch' table; 'best test epoch' = the evaluated epoch of best ACC, test-label "
             "selection). The split column reads (nodes/0/nodes).", "",
             "Sequential recommendation (task `sequential`: SRA-CL): leave-one-out with full ranking over all "
             "items, graphcl's `SequentialRankingTask` on both sides; the users' history items are NOT masked "
             "(the reference's own protocol, unlike the ranking methods above); metrics hit/ndcg/mrr@k; the "
             "split column reads (training prefixes/valid users/test users) where the data give them.", ""]
    for sel in ("best_valid", "last", "best_test"):
        lines += [f"## Test metrics, {SELECTION_LABEL[sel]}", "", head, sep]
        lines += [_row(doc, sel) for doc in docs]
        lines.append("")
    for doc in docs:
        lines += _details(doc, png_dir, md_path)
    return "\n".join(lines) + "\n"


def _epoch_table(doc: dict[str, Any]) -> list[str]:
    """Per-epoch means over seeds: loss, valid and test of the selection metric, both sides."""
    import statistics
    metric = doc["metrics"][0]
    cols = [("loss", None), ("valid", metric), ("test", metric)]
    table: dict[int, dict[str, list[float]]] = {}
    for r in doc.get("runs", []):
        if r.get("status") != "ok":
            continue
        for c in r["curves"]:
            row = table.setdefault(int(c["epoch"]), {})
            for split, m in cols:
                v = c.get(split) if m is None else (c.get(split) or {}).get(m)
                if v is not None:
                    row.setdefault(f"{r['side']}:{split}", []).append(float(v))
    if not table:
        return []
    if len(table) > 30:  # long runs (node methods): only the evaluated epochs
        table = {e: row for e, row in table.items() if any(k.endswith((":valid", ":test")) for k in row)}
    keys = [f"{side}:{split}" for split, _ in cols for side in ("reference", "ours")]
    names = [f"{side} {split}" for split, _ in cols for side in ("reference", "ours")]
    out = ["", f"Per-epoch means over the seeds (valid/test: {metric}):", "",
           "| epoch | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for e in sorted(table):
        out.append(f"| {e} | " + " | ".join(f"{statistics.fmean(table[e][k]):.4f}" if table[e].get(k) else "—"
                                           for k in keys) + " |")
    return out


def _details(doc: dict[str, Any], png_dir: Path, md_path: Path) -> list[str]:
    s, ref, st = doc["summary"], doc["reference"], doc["settings"]
    png = png_dir / f"{file_stem(doc)}.png"
    rel = png.relative_to(md_path.parent) if png.is_relative_to(md_path.parent) else png
    out = [f"## {doc['method']} on {doc['dataset']}{_variant_suffix(doc)}", "",
           f"- reference: github.com/{ref['repo']} at `{ref['commit']}`, run from a patched temporary copy "
           f"of `{ref.get('checkout')}`", f"- hardware: {doc.get('hardware')}",
           f"- data: {_data_line(st.get('data') or {})}",
           f"- epochs {st.get('epochs')}, seeds {st.get('seeds')}; shared hyperparameters (reference names): "
           f"`{json.dumps(st.get('hyper'))}`", f"- graphcl config: `{json.dumps(st.get('ours_config'))}`",
           f"- s/epoch reference {_ms(s['reference']['seconds_per_epoch'], 1)}, ours "
           f"{_ms(s['ours']['seconds_per_epoch'], 1)}; peak RSS (MiB) reference "
           f"{_ms(s['reference']['peak_rss_mib'], 0)}, ours {_ms(s['ours']['peak_rss_mib'], 0)}",
           f"- reference command: `{' '.join(ref.get('command') or [])}`",
           f"- ours command: `{' '.join((doc.get('ours') or {}).get('command') or [])}`",
           f"- curves: ![{file_stem(doc)}]({rel})", "", "Protocol notes:", ""]
    if ref.get("imported_from"):
        out.insert(out.index("Protocol notes:") - 1,
                   f"- reference runs taken over from {', '.join(ref['imported_from'])} (same settings "
                   f"except graphcl's config)")
    out += [f"- {n}" for n in doc.get("protocol", {}).get("notes", [])]
    findings = doc.get("protocol", {}).get("findings", [])
    if findings:
        out += ["", "Differences between the two codes (reference file:line / graphcl file:line):", ""]
        out += [f"- {n}" for n in findings]
    out += _epoch_table(doc)
    stale = _last_epoch_summary(doc, "stale")
    if stale:
        out += ["", "The reference scored with the embeddings it itself evaluates (stale, see the notes), same "
                "evaluator, last epoch: " + stale]
    last_params = _last_epoch_summary(doc, "last_params")
    if last_params:  # (DGI: the reference evaluates reloaded lowest-loss parameters, see the notes)
        out += ["", "The reference's embeddings of the parameters it stopped with (before its reload), same "
                "evaluator: " + last_params]
    own = _own_summary(doc)
    if own:
        out += ["", "The reference's own printout (its own evaluation protocol; see the notes): " + own]
    failed = [r for r in doc.get("runs", []) if r.get("status") != "ok"]
    if failed:
        out += ["", "Failed runs: " + "; ".join(f"{r['side']} seed {r['seed']}: {r['error']}" for r in failed)]
    out += ["", "Run-time patches of the reference (applied to the temporary copy only):", "",
            "| file | replaced | reason |", "|---|---|---|"]
    out += [f"| {p['file']} | `{_short(p['find'])}` → `{_short(p['replace'])}` (x{p.get('replaced', p['count'])}) "
            f"| {p['reason']} |" for p in ref.get("patches", [])]
    out += [f"| (environment) | {e['what']} | {e['reason']} |" for e in ref.get("environment", [])]
    return out + [""]


def _data_line(data: dict[str, Any]) -> str:
    parts = [f"`{data.get('source', '?')}`"]
    if "num_nodes" in data:
        parts.append(f"{data['num_nodes']} nodes, {data.get('num_edges', '?')} directed edges, "
                     f"{data.get('num_features', '?')} features, {data.get('num_classes', '?')} classes")
    if "num_users" in data:
        parts.append(f"{data['num_users']} users, {data.get('num_items', '?')} items")
    if "train" in data:
        what = "probe split (per probe seed) " if "num_nodes" in data else ""
        parts.append(f"{what}train/valid/test {data['train']}/{data.get('valid', '?')}/{data.get('test', '?')}")
    return ": ".join(parts[:1]) + (": " + ", ".join(parts[1:]) if parts[1:] else "")


def _short(text: str, limit: int = 70) -> str:
    one = text.replace("\n", "⏎").replace("|", "\\|").replace("`", "'")
    return one if len(one) <= limit else one[:limit - 1] + "…"


def _own_summary(doc: dict[str, Any]) -> str:
    import statistics
    vals: dict[str, list[float]] = {}
    # other blocks of the last record's own printout (the clustering adapters: own.last_evaluated,
    # own.best_epoch), labelled by their key
    extra: dict[str, dict[str, list[float]]] = {}
    for r in doc.get("runs", []):
        if r.get("side") != "reference" or r.get("status") != "ok" or not r.get("curves"):
            continue
        own = r["curves"][-1].get("own") or {}
        last = own.get("final_test") or own.get("test")
        for m, v in (last or {}).items():
            vals.setdefault(m, []).append(v)
        for key in ("last_evaluated", "best_epoch"):
            for m, v in (own.get(key) or {}).items():
                extra.setdefault(key, {}).setdefault(m, []).append(v)
    parts = [f"last-epoch test {m} {statistics.fmean(v):.4f} ± {statistics.stdev(v) if len(v) > 1 else 0:.4f}"
             for m, v in vals.items()]
    parts += [f"{key} {m} {statistics.fmean(v):.4f} ± {statistics.stdev(v) if len(v) > 1 else 0:.4f}"
              for key, block in extra.items() for m, v in block.items()]
    return ", ".join(parts)


def _last_epoch_summary(doc: dict[str, Any], key: str) -> str:
    """Mean ± std over the reference seeds of ``curves[-1][key]["test"]``."""
    import statistics
    vals: dict[str, list[float]] = {}
    for r in doc.get("runs", []):
        if r.get("side") == "reference" and r.get("status") == "ok" and r.get("curves"):
            for m, v in ((r["curves"][-1].get(key) or {}).get("test") or {}).items():
                vals.setdefault(m, []).append(v)
    return ", ".join(f"test {m} {statistics.fmean(v):.4f} ± {statistics.stdev(v) if len(v) > 1 else 0:.4f}"
                     for m, v in vals.items())


def plot_curves(doc: dict[str, Any], path: Path) -> Path | None:
    """Per-epoch valid and test metrics[0] (the selection metric) of every seed, both sides, and the
    training loss; None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    metric = doc["metrics"][0]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colors = {"reference": "tab:orange", "ours": "tab:blue"}
    for r in doc.get("runs", []):
        if r.get("status") != "ok":
            continue
        ep = [c["epoch"] for c in r["curves"]]
        kw = {"color": colors[r["side"]], "alpha": 0.8, "label": f"{r['side']} seed {r['seed']}",
              "linestyle": "--" if r["side"] == "reference" else "-"}
        for ax, split in zip(axes[:2], ("valid", "test")):
            pts = [(c["epoch"], c[split][metric]) for c in r["curves"] if metric in (c.get(split) or {})]
            if pts:  # evaluated epochs only (node methods probe every few epochs)
                ax.plot(*zip(*pts), marker="o", ms=3, **kw)
        axes[2].plot(ep, [c.get("loss") for c in r["curves"]], marker="o" if len(ep) <= 50 else None, ms=3, **kw)
    for ax, title in zip(axes, (f"valid {metric}", f"test {metric}", "training loss (epoch mean)")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if labels:  # (a results file without a finished run has none)
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8)
    fig.suptitle(f"{doc['method']} on {doc['dataset']}{_variant_suffix(doc)}: "
                 f"reference ({doc['reference']['repo']}) vs graphcl")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=REPO / "experiments" / "results" / "parity")
    ap.add_argument("--out", type=Path, default=REPO / "experiments" / "results" / "parity.md")
    args = ap.parse_args(argv)
    docs = load_results(args.results)
    if not docs:
        print(f"no parity/1 results files under {args.results}", file=sys.stderr)
        return 1
    for doc in docs:
        plot_curves(doc, args.results / f"{file_stem(doc)}.png")
    from graphcl.io import atomic_write_text
    atomic_write_text(args.out, render(docs, args.results, args.out))
    print(f"wrote {args.out} ({len(docs)} results files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
