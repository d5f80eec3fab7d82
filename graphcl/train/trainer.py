"""The training loop for recommenders.

One loop for every method: Adam, evaluation on the validation split every
``eval_every`` epochs (0: after the last epoch only), early stopping on ``valid_metric`` with ``patience``
(counted in evaluations) and, with ``loss_patience: N > 0``, on the training loss (no new minimum in
N epochs: the stopping rule of HeCo's, MEOW's and DGI's code; the stopping epoch is then evaluated
too, with the parameters ``loss_patience_keep`` names: ``last``, those the run stopped with, or
``lowest``, those that produced the lowest training loss, as DGI's code reloads them),
the best model written atomically to
``best.pt``, the full training state to ``last.pt`` after each epoch (resume
continues exactly where it stopped: model, optimizer, sampler generator and
torch RNG state), a JSON-lines metric log, and a final test evaluation of the
best model. Divergence stops the run with :class:`TrainingDivergedError`: a non-finite loss,
a batch loss above ``divergence_factor`` x max(|first batch loss|, 1) (``lr: 1e9`` drives a
BPR loss to 1e18 while it stays finite), or a non-finite parameter after an epoch.

Resuming refuses a checkpoint of another method, dataset, config (``epochs`` may grow),
dataset option (``data.*``) or dataset content (a fingerprint of the loaded split, so
another ``data.seed`` or a changed file cannot move test items into training). The
metric log and ``last.pt`` agree after any kill: a resume drops the log lines of epochs
the checkpoint does not hold, a run folder with no checkpoint yet (killed in epoch 0)
resumes from scratch, and an early stop is recorded in ``last.pt`` so a resume after it
trains no further epoch.

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

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from graphcl.data.fingerprint import dataset_fingerprint
from graphcl.errors import ConfigError
from graphcl.eval.tasks import make_task
from graphcl.io import atomic_write_text, write_json
from graphcl.model_protocols import OwnsOptimization, Trainable, check_protocol
from graphcl.precision import PRECISIONS, matmul_precision
from graphcl.train import distributed
from graphcl.optim import adam
from graphcl.train.checkpoint import JsonlLogger, load_checkpoint, save_checkpoint
from graphcl.train.utils import make_generator, release_freed_memory, resolve_device, seed_everything


class _NoLogger:
    """The metric log of a rank other than 0: rank 0 writes the run folder."""

    def log(self, record: dict[str, Any]) -> None:
        pass


class TrainingDivergedError(RuntimeError):
    """Training diverged: a non-finite loss or parameter, or a loss that exploded."""


class ResumeError(ValueError):
    """A checkpoint cannot continue this run (another method, dataset, config or split)."""


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
    :func:`graphcl.eval.tasks.make_task`: the task named ``task_name``, the method
    spec's, else the default task of the dataset's type) evaluates the model on
    ``valid`` and ``test``. The model must be
    :class:`~graphcl.model_protocols.Trainable` and provide the task's
    ``model_protocol``; a model that is
    :class:`~graphcl.model_protocols.OwnsOptimization` builds its optimizers and
    makes its own steps. Both are checked here, before any training.
    """

    def __init__(self, method: str, build_model: Callable[..., torch.nn.Module],
                 dataset: Any, config: dict[str, Any],
                 device: str | torch.device = "auto", run_dir: str | Path | None = None,
                 progress: bool | None = None, verbose: bool = True, task: Any = None,
                 dataset_name: str | None = None, task_name: str | None = None) -> None:
        self.method = method
        self.dataset = dataset
        self.config = dict(config)
        self.device = resolve_device(device)
        self.task = task if task is not None else make_task(dataset, self.config, self.device, task_name)
        if dataset_name:
            self.task.name = dataset_name
        self.dist = distributed.context()
        self.run_dir = Path(distributed.broadcast_object(
            str(run_dir) if run_dir is not None else str(default_run_dir(method, self.task.name))))
        self.progress = progress if self.dist.is_main else False  # None: tqdm decides
        self.verbose = verbose and self.dist.is_main
        self.data_fingerprint = dataset_fingerprint(dataset)  # before the model can touch the data
        seed = int(self.config["seed"])
        seed_everything(seed)
        self.model = build_model(dataset, self.config, self.device).to(self.device)
        check_protocol(self.model, Trainable, method)
        check_protocol(self.model, getattr(self.task, "model_protocol", object),
                       f"{method} evaluated by {type(self.task).__name__}")
        self.owns_optimization = isinstance(self.model, OwnsOptimization)
        self.optimizers = self._build_optimizers()
        self.optimizer = next(iter(self.optimizers.values()))
        self.generator = make_generator(seed, self.device)
        self.valid_metric = str(self.config["valid_metric"])
        self.precision = str(self.config.get("precision", "fp32"))  # absent in configs from before the key
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        self.has_valid = self.task.has_valid
        self._reset_progress()
        self.data_options: dict[str, Any] = {}
        self.logger = JsonlLogger(self.run_dir / "metrics.jsonl") if self.dist.is_main else _NoLogger()
        self.ddp: torch.nn.Module | None = None
        if self.dist.active:
            self._setup_distributed()

    def _build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The model's own optimizers (:class:`OwnsOptimization`), else one Adam over all parameters
        (fused where the parameters allow: :func:`graphcl.optim.adam`)."""
        lr, weight_decay = float(self.config["lr"]), float(self.config["weight_decay"])
        optimizers = (dict(self.model.configure_optimizers(lr, weight_decay)) if self.owns_optimization else
                      {"main": adam(self.model.parameters(), lr, weight_decay)})
        if not optimizers:
            raise ValueError(f"{self.method}: configure_optimizers returned no optimizer")
        return optimizers

    def _reset_progress(self) -> None:
        """The training progress of a new run (``resume`` restores it from ``last.pt``)."""
        self.start_epoch = 0
        self.best_score = -math.inf
        self.best_epoch = -1
        self.best_valid: dict[str, float] = {}
        self.bad_evals = 0
        self.best_loss = math.inf
        self.loss_bad_epochs = 0
        self.first_loss: float | None = None   # the first batch's loss: the divergence reference
        # loss_patience_keep: lowest: the state the epoch of lowest training loss started from
        self.lowest_state: dict[str, torch.Tensor] | None = None
        self.lowest_epoch = -1
        self.stopped = ""                      # why the run stopped early ("" while it runs)
        self.restarted = False                 # restart(): a fresh start in a claimed folder
        self.history: list[dict[str, Any]] = []

    def _setup_distributed(self) -> None:
        """Wrap the model's loss in DDP and shard the ranking evaluation (module docstring)."""
        if self.owns_optimization:
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
            "data_options": self.data_options,
            "data_fingerprint": self.data_fingerprint,
            "first_loss": self.first_loss,
            "stopped": self.stopped,
            **({"loss_lowest": {"epoch": self.lowest_epoch, "model": self.lowest_state}}
               if self.keeps_lowest and self.lowest_state is not None else {}),
        }

    def resume(self, checkpoint: str | Path) -> None:
        """Continue from a ``last.pt`` written by an earlier run of the same config and data.

        Raises :class:`ResumeError` naming every differing key: method, dataset, config
        keys (``epochs`` may change), ``data.*`` options, and the dataset content.
        """
        ckpt = load_checkpoint(checkpoint, map_location=self.device)
        if ckpt.get("method") != self.method or ckpt.get("dataset") != self.task.name:
            raise ResumeError(f"checkpoint {checkpoint} is for {ckpt.get('method')} on "
                              f"{ckpt.get('dataset')}, not {self.method} on {self.task.name}")
        saved_options = ckpt.get("data_options")
        if saved_options is None:  # a checkpoint from before data options were stored
            saved_options = self._saved_run_config(Path(checkpoint).parent).get("data_options", {})
        self._check_same_run(checkpoint, ckpt["config"], saved_options, ckpt.get("data_fingerprint"))
        self.model.load_state_dict(ckpt["model"])
        if "optimizers" in ckpt:
            if set(ckpt["optimizers"]) != set(self.optimizers):
                raise ResumeError(f"checkpoint {checkpoint} has optimizers {sorted(ckpt['optimizers'])}, "
                                  f"the model has {sorted(self.optimizers)}")
            for name, opt in self.optimizers.items():
                opt.load_state_dict(ckpt["optimizers"][name])
        else:  # a checkpoint from before named optimizers
            self.optimizer.load_state_dict(ckpt["optimizer"])
        self.generator.set_state(ckpt["generator"].cpu())  # a generator's state is a CPU ByteTensor, CUDA's too
        torch.set_rng_state(ckpt["torch_rng"].cpu())
        self.start_epoch = int(ckpt["epoch"]) + 1
        self.best_score = float(ckpt["best_score"])
        self.best_epoch = int(ckpt["best_epoch"])
        self.best_valid = dict(ckpt["best_valid"])
        self.bad_evals = int(ckpt["bad_evals"])
        self.best_loss = float(ckpt.get("best_loss", math.inf))
        self.loss_bad_epochs = int(ckpt.get("loss_bad_epochs", 0))
        first = ckpt.get("first_loss")
        self.first_loss = None if first is None else float(first)
        self.stopped = str(ckpt.get("stopped", "") or "")
        lowest = ckpt.get("loss_lowest")
        if self.keeps_lowest and lowest is None and self.best_loss < math.inf:
            raise ResumeError(f"checkpoint {checkpoint} holds no lowest-loss parameters for "
                              f"loss_patience_keep: lowest; start a new run")
        if lowest is not None:
            self.lowest_epoch, self.lowest_state = int(lowest["epoch"]), dict(lowest["model"])
        self.history = list(ckpt["history"])
        self._trim_metric_log(keep_before=self.start_epoch)

    def restart(self, run_dir: str | Path) -> None:
        """Start over in a run folder that holds no checkpoint yet (a run killed in its first
        epoch): its ``config.json`` must describe this run (same checks as :meth:`resume`);
        the metric log of the killed attempt is dropped."""
        run_dir = Path(run_dir)
        saved = self._saved_run_config(run_dir)
        if not saved:
            raise ResumeError(f"{run_dir} holds no checkpoint (last.pt) and no config.json: "
                              f"nothing to resume; start a new run instead")
        if saved.get("method") != self.method or saved.get("dataset") != self.task.name:
            raise ResumeError(f"{run_dir} is a run of {saved.get('method')} on {saved.get('dataset')}, "
                              f"not {self.method} on {self.task.name}")
        self._check_same_run(run_dir / "config.json", dict(saved.get("config", {})),
                             dict(saved.get("data_options", {})), saved.get("data_fingerprint"))
        self._trim_metric_log(keep_before=0)
        self.restarted = True
        self._say(f"{run_dir} holds no checkpoint yet (killed in its first epoch): starting over there")

    def _saved_run_config(self, run_dir: Path) -> dict[str, Any]:
        path = run_dir / "config.json"
        if not path.is_file():
            return {}
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ResumeError(f"{path}: unreadable run config ({err})") from None
        if not isinstance(saved, dict):
            raise ResumeError(f"{path}: expected a JSON object")
        return saved

    def _check_same_run(self, source: Any, config: dict[str, Any], data_options: dict[str, Any],
                        fingerprint: str | None) -> None:
        from graphcl.config import TRAIN_DEFAULTS
        defaults = dict(TRAIN_DEFAULTS)
        try:  # the method's own defaults too (a key added to the method after the checkpoint)
            from graphcl.registry import get_method
            defaults.update(get_method(self.method).defaults)
        except Exception:  # a method built outside the registry
            pass
        differing = sorted(k for k in set(config) | set(self.config)
                           if k != "epochs" and config.get(k) != self.config.get(k)
                           # a key added after the checkpoint was written, at its default
                           and not (k not in config and k in defaults
                                    and self.config.get(k) == defaults[k])
                           # a key the method no longer has (nobody can set it now)
                           and not (k not in self.config and k not in defaults))
        differing += sorted(f"data.{k}" for k in set(data_options) | set(self.data_options)
                            if data_options.get(k, "<unset>") != self.data_options.get(k, "<unset>"))
        if differing:
            detail = "; ".join(f"{k}: {self._value_of(k, config, data_options)!r} in the checkpoint, "
                               f"{self._value_of(k, self.config, self.data_options)!r} now"
                               for k in differing[:8])
            raise ResumeError(f"{source} was trained with a different config: "
                              f"{', '.join(differing)} ({detail}); resume with the same settings "
                              f"or start a new run")
        if fingerprint is not None and fingerprint != self.data_fingerprint:
            raise ResumeError(f"{source} was trained on other data: the loaded dataset "
                              f"{self.task.name} differs from the checkpoint's (another split, or files "
                              f"changed on disk); resume on the same data or start a new run")

    @staticmethod
    def _value_of(key: str, config: dict[str, Any], data_options: dict[str, Any]) -> Any:
        if key.startswith("data."):
            return data_options.get(key[len("data."):], "<unset>")
        return config.get(key, "<unset>")

    def _trim_metric_log(self, keep_before: int) -> None:
        """Keep only the log lines of epochs ``< keep_before`` (not the final test line): after a
        kill between a log line and ``last.pt``, the resumed epochs would otherwise appear twice."""
        path = self.run_dir / "metrics.jsonl"
        if not self.dist.is_main or not path.is_file():
            return
        kept = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line torn by the kill
                continue
            if (isinstance(record, dict) and record.get("split") != "test"
                    and isinstance(record.get("epoch"), int) and record["epoch"] < keep_before):
                kept.append(line)
        atomic_write_text(path, "".join(f"{line}\n" for line in kept))

    # ----------------------------------------------------------------- train
    def _train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over ``model.batches``; the mean of each logged loss part over its batches."""
        self.model.train()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        bar = tqdm(self.model.batches(self.generator), total=self.model.num_batches(), desc=f"epoch {epoch}",
                   leave=False, disable=None if self.progress is None else not self.progress)
        trim_every = int(self.config.get("malloc_trim_every", 0) or 0)
        for step, batch in enumerate(bar):
            with matmul_precision(self.precision):
                parts, weight = self._step(batch, epoch, step)
            for k, v in parts.items():
                v = v.detach() * weight if weight != 1.0 else v.detach()
                sums[k] = sums[k] + v if k in sums else v.clone()
            count += 1
            if trim_every and count % trim_every == 0:
                release_freed_memory()
            if count % 20 == 0 and not bar.disable:
                bar.set_postfix(loss=f"{float(sums['loss']) / count:.4f}")
        bar.close()
        self._check_parameters(epoch)
        if self.dist.active:  # the global batches' mean losses: (1/W) Σ_r w_r L_r, the same on every rank
            keys = sorted(sums)
            total = distributed.all_reduce_sums(torch.stack([sums[k].float() for k in keys]))
            sums = {k: total[i] / self.dist.world_size for i, k in enumerate(keys)}
        return {k: float(v) / max(count, 1) for k, v in sums.items()}

    def _step(self, batch: Any, epoch: int, step: int) -> tuple[dict[str, torch.Tensor], float]:
        """One optimization step on ``batch``: its loss parts and this rank's loss weight."""
        weight = 1.0
        if self.ddp is not None:
            batch, weight = distributed.shard_batch(batch, self.dist)
            out = self.ddp(batch)
        elif self.owns_optimization:
            try:
                out = dict(self.model.train_step(batch, self.optimizers))
            except FloatingPointError as err:
                raise TrainingDivergedError(f"{self.method}: non-finite loss at epoch {epoch}, batch "
                                            f"{step} ({err}); lower lr or check the input data") from None
        else:
            out = self.model.loss(batch)
        parts = out if isinstance(out, dict) else {"loss": out}
        loss = parts["loss"]
        self._check_finite(loss, parts, epoch, step)
        self._check_explosion(float(loss.detach()), epoch, step, parts)
        if self.ddp is not None or not self.owns_optimization:
            for opt in self.optimizers.values():
                opt.zero_grad(set_to_none=True)
            (loss * weight if weight != 1.0 else loss).backward()
            for opt in self.optimizers.values():
                opt.step()
        return parts, weight

    def _check_finite(self, loss: torch.Tensor, parts: dict[str, Any], epoch: int, step: int) -> None:
        """A non-finite loss is divergence; under DDP every rank stops together (or the others
        would hang in the next all-reduce)."""
        finite = bool(torch.isfinite(loss))
        if self.ddp is not None:
            finite = not bool(distributed.all_reduce_sums(torch.tensor([0.0 if finite else 1.0],
                                                                       device=loss.device)))
        if not finite:
            detail = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in parts.items())
            raise TrainingDivergedError(f"{self.method}: non-finite loss at epoch {epoch}, batch {step} "
                                        f"({detail}); lower lr or check the input data")

    def _check_explosion(self, value: float, epoch: int, step: int, parts: dict[str, Any]) -> None:
        """Divergence while the loss stays finite: |loss| above ``divergence_factor`` x
        max(|first batch loss|, 1). Every rank sees the same all-reduced decision under DDP
        only through the finite check; a loss this large is the same on every rank's shard."""
        factor = float(self.config.get("divergence_factor", 0) or 0)
        if self.first_loss is None:
            self.first_loss = value
            return
        if factor <= 0:
            return
        bound = factor * max(abs(self.first_loss), 1.0)
        if abs(value) > bound:
            detail = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in parts.items())
            raise TrainingDivergedError(
                f"{self.method}: the loss exploded at epoch {epoch}, batch {step} ({detail}; first batch "
                f"{self.first_loss:.4g}, limit {bound:.4g} = divergence_factor {factor:g} x "
                f"max(|first|, 1)); lower lr, or raise divergence_factor (0: off) if this is expected")

    def _check_parameters(self, epoch: int) -> None:
        """A non-finite parameter after an epoch is divergence (the next loss would be NaN)."""
        for name, param in self.model.named_parameters():
            if not bool(torch.isfinite(param.detach()).all()):
                raise TrainingDivergedError(f"{self.method}: parameter '{name}' is not finite after epoch "
                                            f"{epoch}; lower lr or check the input data")

    def _say(self, msg: str) -> None:
        if self.verbose:
            tqdm.write(msg)

    def fit(self) -> TrainResult:
        """Train from ``start_epoch`` to ``epochs`` (or an early stop), select the best
        validation epoch, test it, and write ``result.json``."""
        epochs = int(self.config["epochs"])
        if self.loss_patience < 0:
            raise ValueError(f"loss_patience must be >= 0 (0: off), got {self.loss_patience}")
        self._check_loss_patience_keep()
        self._claim_run_dir()
        if self.stopped:
            self._say(f"the run had stopped early ({self.stopped}); testing its best model")
        if not self.has_valid:
            self._say("no validation split: training for all epochs and testing the last model")
        train_seconds: list[float] = []
        eval_seconds: list[float] = []
        epoch = self.start_epoch - 1
        for epoch in range(self.start_epoch, epochs if not self.stopped else self.start_epoch):
            if self._run_epoch(epoch, train_seconds, eval_seconds):
                break
        return self._finish(epoch, train_seconds, eval_seconds)

    def _claim_run_dir(self) -> None:
        """Refuse a folder that holds another run (unless resuming or restarting it), then
        write ``config.json`` (rank 0)."""
        if self.start_epoch == 0 and not self.restarted:
            if (self.run_dir / "last.pt").exists():
                raise FileExistsError(f"run folder {self.run_dir} already holds a run; resume it "
                                      f"(--resume {self.run_dir}) or pick another run folder")
            if (self.run_dir / "metrics.jsonl").exists() or (self.run_dir / "config.json").exists():
                raise FileExistsError(f"run folder {self.run_dir} holds a run killed before its first "
                                      f"checkpoint; --resume {self.run_dir} starts it over there, or pick "
                                      f"another run folder")
        distributed.barrier()  # every rank has checked the folder before rank 0 writes into it
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_json(self.run_dir / "config.json", {"method": self.method, "dataset": self.task.name,
                                                      "config": self.config, "data_options": self.data_options,
                                                      "data_fingerprint": self.data_fingerprint,
                                                      "dataset_stats": self.task.stats(),
                                                      "device": str(self.device),
                                                      "world_size": self.dist.world_size})

    def _run_epoch(self, epoch: int, train_seconds: list[float], eval_seconds: list[float]) -> bool:
        """Train one epoch, validate when due, checkpoint; True when the run stops early."""
        # loss_patience_keep: lowest: the parameters this epoch starts from, i.e. those that compute
        # its loss (for a one-step epoch, as full-graph node methods train, exactly that loss's)
        start_state = self._model_state_copy() if self.keeps_lowest else None
        t0 = time.perf_counter()
        losses = self._train_epoch(epoch)
        train_seconds.append(time.perf_counter() - t0)
        self.logger.log({"epoch": epoch, "split": "train", "seconds": train_seconds[-1], **losses})
        lowest_before = self.best_loss
        loss_stop = self._loss_plateau(losses["loss"])
        if start_state is not None and self.best_loss < lowest_before:
            self.lowest_state, self.lowest_epoch = start_state, epoch
        if loss_stop and self.keeps_lowest and self.lowest_state is not None:
            self.model.load_state_dict(self.lowest_state)
            self._say(f"loss_patience_keep: lowest: evaluating the parameters that produced epoch "
                      f"{self.lowest_epoch}'s training loss {self.best_loss:.6g}")
        eval_every, epochs = int(self.config["eval_every"]), int(self.config["epochs"])
        due = (epoch + 1) % eval_every == 0 if eval_every > 0 else False
        stop = False
        if self.has_valid and (due or epoch == epochs - 1 or loss_stop):
            stop = self._validate(epoch, losses["loss"], train_seconds[-1], eval_seconds)
        else:
            self._say(f"epoch {epoch:4d}  loss {losses['loss']:.4f}  {train_seconds[-1]:.1f}s")
        patience = int(self.config["patience"])
        if stop:
            self.stopped = f"no {self.valid_metric} gain in {patience} evaluations, epoch {epoch}"
        elif loss_stop:
            self.stopped = f"no new training-loss minimum in {self.loss_patience} epochs, epoch {epoch}"
            if self.keeps_lowest and self.lowest_state is not None:
                self.stopped += f" (kept the parameters of epoch {self.lowest_epoch}, the lowest loss)"
        if self.dist.is_main:
            save_checkpoint(self.state(epoch), self.run_dir / "last.pt")
        if stop:
            self._say(f"early stop: no {self.valid_metric} gain in {patience} evaluations")
        elif loss_stop:
            self._say(f"early stop: no new training-loss minimum in {self.loss_patience} epochs")
        return stop or loss_stop

    @property
    def loss_patience(self) -> int:
        """The config's ``loss_patience`` (0, or absent in a config from before the key: off)."""
        return int(self.config.get("loss_patience", 0))

    @property
    def loss_patience_keep(self) -> str:
        """The config's ``loss_patience_keep`` (absent in a config from before the key: ``last``)."""
        return str(self.config.get("loss_patience_keep", "last"))

    @property
    def keeps_lowest(self) -> bool:
        """Whether a ``loss_patience`` stop evaluates the lowest-loss parameters."""
        return self.loss_patience > 0 and self.loss_patience_keep == "lowest"

    def _check_loss_patience_keep(self) -> None:
        from graphcl.config_ranges import CHOICES
        if self.loss_patience_keep not in CHOICES["loss_patience_keep"]:
            raise ValueError(f"loss_patience_keep must be one of {', '.join(CHOICES['loss_patience_keep'])}, "
                             f"got {self.config.get('loss_patience_keep')!r}")

    def _model_state_copy(self) -> dict[str, torch.Tensor]:
        """A copy of the model's state (parameters and buffers), detached from training."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _loss_plateau(self, loss: float) -> bool:
        """``loss_patience``: True once the training loss has set no new minimum for that many
        epochs (HeCo's and MEOW's stopping rule; 0: off)."""
        if not self.loss_patience:
            return False
        if loss < self.best_loss:
            self.best_loss, self.loss_bad_epochs = loss, 0
            return False
        self.loss_bad_epochs += 1
        return self.loss_bad_epochs >= self.loss_patience

    def _validate(self, epoch: int, loss: float, seconds: float, eval_seconds: list[float]) -> bool:
        """Evaluate on ``valid``; keep ``best.pt`` on a gain; True when ``patience`` evaluations
        in a row brought none."""
        t1 = time.perf_counter()
        valid = self.evaluate("valid")
        eval_seconds.append(time.perf_counter() - t1)
        self.logger.log({"epoch": epoch, "split": "valid", "seconds": eval_seconds[-1], **valid})
        score = valid[self.valid_metric]
        improved = score > self.best_score
        self.history.append({"epoch": epoch, "loss": loss, self.valid_metric: score})
        stop = False
        if improved:
            self.best_score, self.best_epoch, self.best_valid = score, epoch, valid
            self.bad_evals = 0
            if self.dist.is_main:
                save_checkpoint({"method": self.method, "config": self.config, "epoch": epoch,
                                 "model": self.model.state_dict()}, self.run_dir / "best.pt")
        else:
            self.bad_evals += 1
            stop = self.bad_evals >= int(self.config["patience"])
        self._say(f"epoch {epoch:4d}  loss {loss:.4f}  {seconds:.1f}s  "
                  f"valid {self.valid_metric} {score:.4f}{'  *' if improved else ''}")
        return stop

    def _finish(self, epoch: int, train_seconds: list[float], eval_seconds: list[float]) -> TrainResult:
        """Test the best validation model (the last one without validation); write ``result.json``."""
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
        if self.dist.is_main:
            # loss_patience_keep: lowest and a loss-patience stop: the epoch whose parameters were evaluated
            kept_lowest = (self.keeps_lowest and self.lowest_state is not None
                           and self.stopped.startswith("no new training-loss"))
            kept = {"kept_parameters_epoch": self.lowest_epoch} if kept_lowest else {}
            write_json(self.run_dir / "result.json", {
                "method": self.method, "dataset": self.task.name, "best_epoch": result.best_epoch,
                "valid": result.best_valid, "test": result.test, "epochs_run": result.epochs_run,
                "seconds_per_epoch": result.seconds_per_epoch, "eval_seconds": result.eval_seconds, **kept})
        return result
