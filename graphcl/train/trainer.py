"""The training loop for recommenders.

One loop for every method: Adam, evaluation on the validation split every
``eval_every`` epochs (0: after the last epoch only), early stopping on ``valid_metric`` with ``patience``
(counted in evaluations) and, with ``loss_patience: N > 0``, on the training loss (no new minimum in
N epochs: the stopping rule of HeCo's and MEOW's code; the stopping epoch is then evaluated too),
the best model written atomically to
``best.pt``, the full training state to ``last.pt`` after each epoch (resume
continues exactly where it stopped: model, optimizer, sampler generator and
torch RNG state), a JSON-lines metric log, and a final test evaluation of the
best model. A non-finite loss stops the run with :class:`TrainingDivergedError`.

A model may own its optimization: ``configure_optimizers(lr, weight_decay)``
returns named optimizers (default: one Adam over all parameters, named
``main``), and ``train_step(batch, optimizers)`` does its own backward passes
and steps for one batch (e.g. MCLRec's three-step meta update) and returns the
detached loss parts to log, with ``"loss"``; it raises ``FloatingPointError``
on a non-finite loss. Without ``train_step`` the trainer does one step of every
optimizer on ``model.loss(batch)``.

If the dataset has no validation split (the protocol of some papers), the run
trains for ``epochs`` epochs and reports the test metrics of the last model.

Under ``torchrun`` (an initialized ``torch.distributed`` group) the same loop
runs data-parallel: sharded batches, gradients all-reduced by DDP, sharded
evaluation, files written by rank 0 (:mod:`graphcl.train.distributed`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from graphcl.train import distributed
from graphcl.train.checkpoint import JsonlLogger, load_checkpoint, save_checkpoint, write_json
from graphcl.train.tasks import make_task
from graphcl.train.utils import make_generator, release_freed_memory, resolve_device, seed_everything


class _NoLogger:
    """The metric log of a rank other than 0: rank 0 writes the run folder."""

    def log(self, record: dict[str, Any]) -> None:
        pass


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_valid: dict[str, float]
    test: dict[str, float]
    epochs_run: int
    seconds_per_epoch: float
    eval_seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


def default_run_dir(method: str, dataset: str, root: str | Path = "runs") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return Path(root) / f"{method}-{dataset}-{stamp}"


class Trainer:
    """Trains one model on one dataset and evaluates it through a task.

    ``build_model(dataset, config, device)`` constructs the model; it is called
    after seeding so the initialization is reproducible. The task (default:
    :func:`graphcl.train.tasks.make_task` of the dataset: full ranking for an
    :class:`InteractionDataset`, a linear probe for a PyG ``Data``) evaluates
    the model on ``valid`` and ``test``.
    """

    def __init__(self, method: str, build_model: Callable[..., torch.nn.Module],
                 dataset: Any, config: dict[str, Any],
                 device: str | torch.device = "auto", run_dir: str | Path | None = None,
                 progress: bool | None = None, verbose: bool = True, task: Any = None,
                 dataset_name: str | None = None) -> None:
        self.method = method
        self.dataset = dataset
        self.config = dict(config)
        self.device = resolve_device(device)
        self.task = task if task is not None else make_task(dataset, self.config, self.device)
        if dataset_name:
            self.task.name = dataset_name
        self.dist = distributed.context()
        self.run_dir = Path(distributed.broadcast_object(
            str(run_dir) if run_dir is not None else str(default_run_dir(method, self.task.name))))
        self.progress = progress if self.dist.is_main else False  # None: tqdm decides
        self.verbose = verbose and self.dist.is_main
        seed = int(self.config["seed"])
        seed_everything(seed)
        self.model = build_model(dataset, self.config, self.device).to(self.device)
        lr, weight_decay = float(self.config["lr"]), float(self.config["weight_decay"])
        configure = getattr(self.model, "configure_optimizers", None)
        self.optimizers: dict[str, torch.optim.Optimizer] = (
            dict(configure(lr, weight_decay)) if callable(configure) else
            {"main": torch.optim.Adam(self.model.parameters(), lr=lr, weight_decay=weight_decay)})
        if not self.optimizers:
            raise ValueError(f"{method}: configure_optimizers returned no optimizer")
        self.optimizer = next(iter(self.optimizers.values()))
        self.generator = make_generator(seed, self.device)
        self.valid_metric = str(self.config["valid_metric"])
        self.has_valid = self.task.has_valid
        self.start_epoch = 0
        self.best_score = -math.inf
        self.best_epoch = -1
        self.best_valid: dict[str, float] = {}
        self.bad_evals = 0
        self.best_loss = math.inf
        self.loss_bad_epochs = 0
        self.history: list[dict[str, Any]] = []
        self.data_options: dict[str, Any] = {}
        self.logger = JsonlLogger(self.run_dir / "metrics.jsonl") if self.dist.is_main else _NoLogger()
        self.ddp: torch.nn.Module | None = None
        if self.dist.active:
            self._setup_distributed()

    def _setup_distributed(self) -> None:
        """Wrap the model's loss in DDP and shard the ranking evaluation (module docstring)."""
        if callable(getattr(self.model, "train_step", None)):
            raise ValueError(f"{self.method} runs its own optimizer steps (train_step) and cannot train "
                             f"under torch.distributed; run it in one process")
        from torch.nn.parallel import DistributedDataParallel
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(distributed.LossForward(self.model), device_ids=ids,
                                           find_unused_parameters=True)
        evaluator = getattr(self.task, "evaluator", None)
        if evaluator is not None and hasattr(evaluator, "shard"):
            evaluator.shard = (self.dist.rank, self.dist.world_size)

    # ------------------------------------------------------------ evaluation
    def evaluate(self, split: str) -> dict[str, float]:
        """The task's metrics of the current model on ``split``."""
        result = self.task.evaluate(self.model, split)
        if self.valid_metric not in result:
            raise ValueError(f"valid_metric '{self.valid_metric}' is not computed; "
                             f"available: {', '.join(sorted(result))}")
        return result

    # --------------------------------------------------------------- resume
    def state(self, epoch: int) -> dict[str, Any]:
        return {
            "method": self.method,
            "dataset": self.task.name,
            "config": self.config,
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_valid": self.best_valid,
            "bad_evals": self.bad_evals,
            "best_loss": self.best_loss,
            "loss_bad_epochs": self.loss_bad_epochs,
            "history": self.history,
        }

    def resume(self, checkpoint: str | Path) -> None:
        """Continue from a ``last.pt`` written by an earlier run of the same config."""
        ckpt = load_checkpoint(checkpoint, map_location=self.device)
        if ckpt.get("method") != self.method or ckpt.get("dataset") != self.task.name:
            raise ValueError(f"checkpoint {checkpoint} is for {ckpt.get('method')} on "
                             f"{ckpt.get('dataset')}, not {self.method} on {self.task.name}")
        from graphcl.config import TRAIN_DEFAULTS
        defaults = dict(TRAIN_DEFAULTS)
        try:  # the method's own defaults too (a key added to the method after the checkpoint)
            from graphcl.registry import get_method
            defaults.update(get_method(self.method).defaults)
        except Exception:  # a method built outside the registry
            pass
        differing = sorted(k for k in set(ckpt["config"]) | set(self.config)
                           if k != "epochs" and ckpt["config"].get(k) != self.config.get(k)
                           # a key added after the checkpoint was written, at its default
                           and not (k not in ckpt["config"] and k in defaults
                                    and self.config.get(k) == defaults[k]))
        if differing:
            raise ValueError(f"checkpoint {checkpoint} was trained with a different config: "
                             f"{', '.join(differing)}")
        self.model.load_state_dict(ckpt["model"])
        if "optimizers" in ckpt:
            if set(ckpt["optimizers"]) != set(self.optimizers):
                raise ValueError(f"checkpoint {checkpoint} has optimizers {sorted(ckpt['optimizers'])}, "
                                 f"the model has {sorted(self.optimizers)}")
            for name, opt in self.optimizers.items():
                opt.load_state_dict(ckpt["optimizers"][name])
        else:  # a checkpoint from before named optimizers
            self.optimizer.load_state_dict(ckpt["optimizer"])
        self.generator.set_state(ckpt["generator"].cpu() if self.device.type == "cpu" else ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"].cpu())
        self.start_epoch = int(ckpt["epoch"]) + 1
        self.best_score = float(ckpt["best_score"])
        self.best_epoch = int(ckpt["best_epoch"])
        self.best_valid = dict(ckpt["best_valid"])
        self.bad_evals = int(ckpt["bad_evals"])
        self.best_loss = float(ckpt.get("best_loss", math.inf))
        self.loss_bad_epochs = int(ckpt.get("loss_bad_epochs", 0))
        self.history = list(ckpt["history"])

    # ----------------------------------------------------------------- train
    def _train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        batches = self.model.batches(self.generator)
        total = self.model.num_batches() if hasattr(self.model, "num_batches") else None
        bar = tqdm(batches, total=total, desc=f"epoch {epoch}", leave=False,
                   disable=None if self.progress is None else not self.progress)
        train_step = getattr(self.model, "train_step", None)
        trim_every = int(self.config.get("malloc_trim_every", 0) or 0)
        if trim_every < 0:
            raise ValueError(f"malloc_trim_every must be >= 0, got {trim_every}")
        for step, batch in enumerate(bar):
            weight = 1.0
            if self.ddp is not None:
                batch, weight = distributed.shard_batch(batch, self.dist)
                out = self.ddp(batch)
                parts = out if isinstance(out, dict) else {"loss": out}
            elif callable(train_step):
                try:
                    parts = dict(train_step(batch, self.optimizers))
                except FloatingPointError as err:
                    raise TrainingDivergedError(f"{self.method}: non-finite loss at epoch {epoch}, batch "
                                                f"{step} ({err}); lower lr or check the input data") from None
            else:
                out = self.model.loss(batch)
                parts = out if isinstance(out, dict) else {"loss": out}
            loss = parts["loss"]
            finite = bool(torch.isfinite(loss))
            if self.ddp is not None:  # every rank stops together, or the others hang in the all-reduce
                finite = not bool(distributed.all_reduce_sums(torch.tensor([0.0 if finite else 1.0],
                                                                           device=loss.device)))
            if not finite:
                detail = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in parts.items())
                raise TrainingDivergedError(f"{self.method}: non-finite loss at epoch {epoch}, batch {step} "
                                            f"({detail}); lower lr or check the input data")
            if self.ddp is not None or not callable(train_step):
                for opt in self.optimizers.values():
                    opt.zero_grad(set_to_none=True)
                (loss * weight if weight != 1.0 else loss).backward()
                for opt in self.optimizers.values():
                    opt.step()
            for k, v in parts.items():
                v = v.detach() * weight if weight != 1.0 else v.detach()
                sums[k] = sums[k] + v if k in sums else v.clone()
            count += 1
            if trim_every and count % trim_every == 0:
                release_freed_memory()
            if count % 20 == 0 and not bar.disable:
                bar.set_postfix(loss=f"{float(sums['loss']) / count:.4f}")
        bar.close()
        if self.dist.active:  # the global batches' mean losses: (1/W) Σ_r w_r L_r, the same on every rank
            keys = sorted(sums)
            total = distributed.all_reduce_sums(torch.stack([sums[k].float() for k in keys]))
            sums = {k: total[i] / self.dist.world_size for i, k in enumerate(keys)}
        return {k: float(v) / max(count, 1) for k, v in sums.items()}

    def _say(self, msg: str) -> None:
        if self.verbose:
            tqdm.write(msg)

    def fit(self) -> TrainResult:
        cfg = self.config
        epochs, eval_every, patience = int(cfg["epochs"]), int(cfg["eval_every"]), int(cfg["patience"])
        loss_patience = int(cfg.get("loss_patience", 0))
        if loss_patience < 0:
            raise ValueError(f"loss_patience must be >= 0 (0: off), got {loss_patience}")
        if self.start_epoch == 0 and (self.run_dir / "metrics.jsonl").exists():
            raise FileExistsError(f"run folder {self.run_dir} already holds a run; resume it or pick "
                                  f"another run folder")
        distributed.barrier()  # every rank has checked the folder before rank 0 writes into it
        main = self.dist.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_json(self.run_dir / "config.json", {"method": self.method, "dataset": self.task.name,
                                                      "config": cfg, "data_options": self.data_options,
                                                      "dataset_stats": self.task.stats(),
                                                      "device": str(self.device),
                                                      "world_size": self.dist.world_size})
        if not self.has_valid:
            self._say("no validation split: training for all epochs and testing the last model")
        train_seconds: list[float] = []
        eval_seconds: list[float] = []
        epoch = self.start_epoch - 1
        for epoch in range(self.start_epoch, epochs):
            t0 = time.perf_counter()
            losses = self._train_epoch(epoch)
            train_seconds.append(time.perf_counter() - t0)
            record: dict[str, Any] = {"epoch": epoch, "split": "train", "seconds": train_seconds[-1], **losses}
            self.logger.log(record)
            stop = loss_stop = False
            if loss_patience:
                if losses["loss"] < self.best_loss:
                    self.best_loss, self.loss_bad_epochs = losses["loss"], 0
                else:
                    self.loss_bad_epochs += 1
                    loss_stop = self.loss_bad_epochs >= loss_patience
            due = (epoch + 1) % eval_every == 0 if eval_every > 0 else False
            if self.has_valid and (due or epoch == epochs - 1 or loss_stop):
                t1 = time.perf_counter()
                valid = self.evaluate("valid")
                eval_seconds.append(time.perf_counter() - t1)
                self.logger.log({"epoch": epoch, "split": "valid", "seconds": eval_seconds[-1], **valid})
                score = valid[self.valid_metric]
                improved = score > self.best_score
                self.history.append({"epoch": epoch, "loss": losses["loss"], self.valid_metric: score})
                if improved:
                    self.best_score, self.best_epoch, self.best_valid = score, epoch, valid
                    self.bad_evals = 0
                    if main:
                        save_checkpoint({"method": self.method, "config": cfg, "epoch": epoch,
                                         "model": self.model.state_dict()}, self.run_dir / "best.pt")
                else:
                    self.bad_evals += 1
                    stop = self.bad_evals >= patience
                self._say(f"epoch {epoch:4d}  loss {losses['loss']:.4f}  {train_seconds[-1]:.1f}s  "
                          f"valid {self.valid_metric} {score:.4f}{'  *' if improved else ''}")
            else:
                self._say(f"epoch {epoch:4d}  loss {losses['loss']:.4f}  {train_seconds[-1]:.1f}s")
            if main:
                save_checkpoint(self.state(epoch), self.run_dir / "last.pt")
            if stop:
                self._say(f"early stop: no {self.valid_metric} gain in {patience} evaluations")
                break
            if loss_stop:
                self._say(f"early stop: no new training-loss minimum in {loss_patience} epochs")
                break
        distributed.barrier()  # rank 0 has written best.pt
        if self.has_valid and self.best_epoch >= 0:
            best = load_checkpoint(self.run_dir / "best.pt", map_location=self.device)
            self.model.load_state_dict(best["model"])
        t1 = time.perf_counter()
        test = self.evaluate("test") if self.task.has_test else {}
        test_seconds = time.perf_counter() - t1
        self.logger.log({"epoch": self.best_epoch if self.has_valid else epoch, "split": "test",
                         "seconds": test_seconds, **test})
        result = TrainResult(
            run_dir=self.run_dir, best_epoch=self.best_epoch if self.has_valid else epoch,
            best_valid=self.best_valid, test=test, epochs_run=epoch + 1,
            seconds_per_epoch=sum(train_seconds) / max(len(train_seconds), 1),
            eval_seconds=(sum(eval_seconds) / len(eval_seconds)) if eval_seconds else test_seconds,
            history=self.history)
        if main:
            write_json(self.run_dir / "result.json", {
                "method": self.method, "dataset": self.task.name, "best_epoch": result.best_epoch,
                "valid": result.best_valid, "test": result.test, "epochs_run": result.epochs_run,
                "seconds_per_epoch": result.seconds_per_epoch, "eval_seconds": result.eval_seconds})
        return result
