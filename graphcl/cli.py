"""Command line: ``graphcl train``, ``graphcl datasets``, ``graphcl methods``, ``graphcl llm``,
``graphcl plot``, ``graphcl reproduce``, ``graphcl study``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence


def _build_parser(with_llm: bool = True) -> argparse.ArgumentParser:
    """The parser; ``with_llm=False`` lists ``llm`` without building its sub-parser (which
    imports :mod:`graphcl.llm`), for every other command."""
    parser = argparse.ArgumentParser(prog="graphcl", description="Graph and recommendation contrastive learning")
    sub = parser.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("train", help="train a method on a dataset and print its test metrics")
    tr.add_argument("method", help="method name (see `graphcl methods`)")
    tr.add_argument("--dataset", default="ml-100k", help="dataset name (see `graphcl datasets`) or path")
    tr.add_argument("--config", help="YAML file of config overrides")
    tr.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one config key (repeatable); data.<option> goes to the dataset loader")
    tr.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    tr.add_argument("--data-root", help="folder holding the datasets (default: $GRAPHCL_DATA or datasets/)")
    tr.add_argument("--run-dir", help="folder for the metric log and checkpoints (default runs/<method>-<dataset>-<time>)")
    tr.add_argument("--resume", help="run folder (or last.pt) of an interrupted run to continue")
    tr.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice; on a busy "
                    "machine fewer threads than cores can be much faster)")
    tr.add_argument("--backbone", help="backbone of a plug-in method (gaugllm: grace); same as --set backbone=...")
    tr.add_argument("--json", action="store_true", help="print the final result as JSON too")
    tr.add_argument("--quiet", action="store_true", help="no per-epoch lines")

    ds = sub.add_parser("datasets", help="list known datasets and where each is found")
    ds.add_argument("--data-root", help="folder holding the datasets")

    sub.add_parser("methods", help="list registered methods")

    pl = sub.add_parser("plot", help="plot a run's learned embeddings in 2-D, or its training curves")
    pl.add_argument("run_dir", help="run folder written by `graphcl train` (config.json, best.pt or last.pt)")
    pl.add_argument("--out", help="image file, .png (default), .pdf or .svg "
                    "(default RUN_DIR/embeddings.png or RUN_DIR/curves.png)")
    pl.add_argument("--what", choices=("embeddings", "curves"), default="embeddings",
                    help="embeddings (default): the best model's embeddings projected to 2-D; "
                    "curves: training loss and validation metric per epoch")
    pl.add_argument("--color-by", choices=("label", "cluster"),
                    help="label: node classes (default for labelled graphs); cluster: k-means clusters "
                    "(default without it: users vs items, or one colour)")
    pl.add_argument("--method", dest="projection", choices=("pca", "tsne"), default="pca",
                    help="2-D projection: pca (default) or tsne (needs scikit-learn)")
    pl.add_argument("--max-points", type=int, default=5000, help="plot a random subset of at most N points")
    pl.add_argument("--clusters", type=int, help="k-means clusters for --color-by cluster "
                    "(default: the number of classes, else 8)")
    pl.add_argument("--seed", type=int, default=0, help="seed of the subset, k-means and t-SNE")
    pl.add_argument("--data-root", help="folder holding the datasets (default: $GRAPHCL_DATA or datasets/)")
    pl.add_argument("--device", default="cpu", help="device to rebuild the model on (default cpu)")

    ev = sub.add_parser("evaluate", help="evaluate a finished run's best model again, optionally under "
                        "another evaluation protocol (e.g. --set exclude_history=true)")
    ev.add_argument("run_dir", help="run folder written by `graphcl train` (config.json, best.pt)")
    ev.add_argument("--split", default="test", choices=("valid", "test"), help="split (default test)")
    ev.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="an evaluation key (exclude_history, topk, eval_batch_size) to change (repeatable)")
    ev.add_argument("--data-root", help="folder holding the datasets (default: $GRAPHCL_DATA or datasets/)")
    ev.add_argument("--device", default="cpu", help="device to rebuild the model on (default cpu)")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")

    rp = sub.add_parser("reproduce", help="train a method over several seeds with the paper's settings "
                        "and report mean ± std of the test metrics beside the paper's numbers")
    rp.add_argument("method", help="method name (see `graphcl methods`)")
    rp.add_argument("--dataset", help="dataset name (default: the method's first paper dataset, else its "
                    "first preset, else ml-100k / ml-100k-seq / cora)")
    rp.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    rp.add_argument("--epochs", type=int, help="epochs per seed (default: the preset's or method's)")
    rp.add_argument("--config", help="YAML file of config overrides (e.g. experiments/configs/*.yaml)")
    rp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one config key (repeatable); data.<option> goes to the dataset loader")
    rp.add_argument("--out-dir", help="folder of the seed runs and the report "
                    "(default runs/reproduce/<method>-<dataset>)")
    rp.add_argument("--data-root", help="folder holding the datasets (default: $GRAPHCL_DATA or datasets/)")
    rp.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    rp.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    rp.add_argument("--verbose", action="store_true", help="per-epoch lines of every run")

    _add_study_parser(sub)
    if with_llm:
        from graphcl.llm.cli import add_llm_parser
        add_llm_parser(sub)
    else:
        sub.add_parser("llm", help="text generation: try a backend, inspect the response cache")
    return parser


def _add_study_parser(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser("study", help="train the runs of a study file (methods or variants x datasets x "
                        "seeds x grid) and write its table of mean ± std beside the papers' numbers")
    st.add_argument("file", help="study YAML file (e.g. experiments/studies/*.yaml)")
    st.add_argument("--resume", action="store_true", help="reuse finished run folders (result.json) and "
                    "continue interrupted ones (last.pt); without it existing runs are refused")
    st.add_argument("--dry-run", action="store_true", help="print the expanded runs and exit")
    st.add_argument("--data-root", help="folder holding the datasets (default: $GRAPHCL_DATA or datasets/)")
    st.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    st.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    st.add_argument("--verbose", action="store_true", help="per-epoch lines of every run")


def _cmd_study(args: argparse.Namespace) -> int:
    from graphcl.study import describe_runs, load_study, run_study

    spec = load_study(args.file)
    if args.dry_run:
        print("\n".join(describe_runs(spec)))
        return 0
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        import torch
        torch.set_num_threads(args.threads)
    report = run_study(spec, resume=args.resume, data_root=args.data_root, device=args.device,
                       verbose=args.verbose, log=lambda msg: print(msg, flush=True))
    print()
    print(report.markdown.read_text(encoding="utf-8"))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from graphcl.config import parse_set_options
    from graphcl.eval.ranking import format_metrics_table
    from graphcl.train import build_trainer

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        import torch
        torch.set_num_threads(args.threads)
    overrides = parse_set_options(args.overrides)
    if args.backbone:
        overrides["backbone"] = args.backbone
    from graphcl.train.distributed import init_distributed
    ctx, device = init_distributed(args.device)  # under torchrun: join the group (else a no-op)
    try:
        trainer = build_trainer(args.method, args.dataset, config=overrides,
                                config_file=args.config, data_root=args.data_root, device=device,
                                run_dir=args.run_dir, resume=args.resume, verbose=not args.quiet)
        if ctx.is_main:
            where = f", {ctx.world_size} processes" if ctx.active else ""
            print(f"{trainer.method} on {trainer.task.name}, device {trainer.device}{where}", flush=True)
        result = trainer.fit()
    finally:
        if ctx.active:
            import torch.distributed as dist
            dist.destroy_process_group()
    if not ctx.is_main:
        return 0
    print()
    print(f"{trainer.method} on {trainer.task.name}: best epoch {result.best_epoch}, "
          f"{result.epochs_run} epochs, {result.seconds_per_epoch:.2f} s/epoch, "
          f"{result.eval_seconds:.2f} s/full evaluation")
    if result.best_valid:
        print("\nvalidation (best epoch)")
        print(format_metrics_table(result.best_valid))
    print("\ntest")
    print(format_metrics_table(result.test))
    print(f"\nrun folder: {result.run_dir}")
    if args.json:
        print(json.dumps({"valid": result.best_valid, "test": result.test,
                          "best_epoch": result.best_epoch, "seconds_per_epoch": result.seconds_per_epoch}))
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from graphcl.data import describe_datasets, resolve_data_root

    print(f"data root: {resolve_data_root(args.data_root)}")
    for row in describe_datasets(args.data_root):
        where = row.get("path") if row.get("found") else f"missing: {row.get('reason')}"
        print(f"  {row['name']:<17} {'found' if row.get('found') else '-----'}  {where}")
    return 0


def _cmd_methods(_: argparse.Namespace) -> int:
    from graphcl.registry import get_method, list_methods

    for name in list_methods():
        spec = get_method(name)
        print(f"  {name:<12} [{spec.kind}] {spec.description}  ({spec.paper})")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from graphcl.plot import plot_curves, plot_embeddings

    if args.what == "curves":
        curves = plot_curves(args.run_dir, args.out)
        print(f"wrote {curves.path} ({len(curves.epochs)} epochs, {len(curves.valid)} validation points)")
        return 0
    emb = plot_embeddings(args.run_dir, args.out, color_by=args.color_by, projection=args.projection,
                          max_points=args.max_points, seed=args.seed, clusters=args.clusters,
                          data_root=args.data_root, device=args.device)
    print(f"wrote {emb.path} ({len(emb.index)} of {emb.total} points, {emb.projection}, "
          f"coloured by {emb.color_by}, from {emb.checkpoint.name})")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from graphcl.config import parse_set_options
    from graphcl.train.reevaluate import evaluate_run

    metrics = evaluate_run(args.run_dir, args.split, parse_set_options(args.overrides),
                           data_root=args.data_root, device=args.device)
    if args.json:
        print(json.dumps(metrics, sort_keys=True))
    else:
        for key in sorted(metrics):
            print(f"{key:<12} {metrics[key]:.4f}")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from graphcl.config import parse_set_options
    from graphcl.reproduce import reproduce

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        import torch
        torch.set_num_threads(args.threads)
    rep = reproduce(args.method, args.dataset, seeds=args.seeds, epochs=args.epochs,
                    overrides=parse_set_options(args.overrides), config_file=args.config,
                    out_dir=args.out_dir, data_root=args.data_root, device=args.device,
                    verbose=args.verbose, log=lambda msg: print(msg, flush=True))
    print()
    print(rep.report.read_text(encoding="utf-8"))
    return 0


def _cmd_llm(args: argparse.Namespace) -> int:
    from graphcl.llm.cli import run

    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _build_parser(with_llm=argv[:1] == ["llm"]).parse_args(argv)
    if args.command == "llm":  # handles its own errors; does not import torch
        return _cmd_llm(args)
    from graphcl.config import ConfigError
    from graphcl.data.interactions import DataFormatError
    from graphcl.registry import UnknownMethodError
    from graphcl.train.distributed import DistributedSetupError
    from graphcl.train.trainer import TrainingDivergedError

    from graphcl.data.named import DatasetNotFoundError
    from graphcl.plot import MissingDependencyError

    # user-facing errors: print the message, no traceback (GRAPHCL_DEBUG=1 shows it)
    known = (ConfigError, DataFormatError, UnknownMethodError, DatasetNotFoundError,
             TrainingDivergedError, DistributedSetupError, ValueError, OSError,
             MissingDependencyError)
    handlers = {"train": _cmd_train, "datasets": _cmd_datasets, "methods": _cmd_methods,
                "plot": _cmd_plot, "reproduce": _cmd_reproduce, "study": _cmd_study,
                "evaluate": _cmd_evaluate}
    try:
        return handlers[args.command](args)
    except known as exc:
        if os.environ.get("GRAPHCL_DEBUG"):
            raise
        print(f"graphcl: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
