"""Our recommenders as RecBole 1.2.1 models, trained by RecBole's own ``Trainer``.

Adapters (RecBole finds a model by class: pass the class as ``model=``):

* :class:`RecBoleLightGCL`, :class:`RecBoleDCCF`, :class:`RecBoleLightGCN` --
  :class:`GraphclGeneralRecommender` (``GeneralRecommender``, input type
  PAIRWISE): our model is built on RecBole's training interactions
  (``dataset.inter_matrix("coo")``; ids as RecBole's, id 0 is its padding
  user/item without interactions), ``calculate_loss`` feeds the batch's user /
  item / negative-item fields to our ``loss((users, pos, neg))`` (its full
  objective, e.g. LightGCL's BPR + InfoNCE + L2), ``full_sort_predict`` is our
  ``full_scores``;
* :class:`RecBoleSASRec`, :class:`RecBoleMCLRec` --
  :class:`GraphclSequentialRecommender` (``SequentialRecommender``, input type
  POINTWISE, cross-entropy over all items, no training negatives): RecBole's
  right-padded ``ITEM_SEQ`` rows are moved to our left-padded layout (newest item
  in the last column) before our encoder sees them. MCLRec is wrapped in its
  joint variant only (``joint: true``, the default here): its default meta update
  needs two optimizers and three steps per batch (``train_step``), which RecBole's
  one-loss, one-optimizer Trainer cannot run; ``joint: false`` is refused.

Configuration: RecBole's config holds both RecBole's settings (``learning_rate``,
``train_batch_size``, ``epochs``, ...) and our model's hyperparameters under our
key names (``embedding_dim``, ``num_layers``, ``cl_weight``, ...); anything not
given takes our registry default, after the registry preset for RecBole's
``dataset`` name when there is one (``graphcl_preset: <name>`` picks another,
``graphcl_preset: none`` none). RecBole's usual names are read too:
``embedding_size`` -> ``embedding_dim`` and ``n_layers`` -> ``num_layers``
(general); ``n_layers``, ``n_heads``, ``hidden_dropout_prob``,
``attn_dropout_prob``, ``initializer_range`` -> ``num_layers``, ``num_heads``,
``hidden_dropout``, ``attn_dropout``, ``init_std`` (sequential; ``hidden_act``
must be ``gelu`` and ``loss_type`` ``CE``). ``max_len`` is RecBole's
``MAX_ITEM_LIST_LENGTH``; ``seed``, ``batch_size``, ``lr`` and ``epochs`` are
RecBole's ``seed``, ``train_batch_size``, ``learning_rate`` and ``epochs``. A key
that is neither a RecBole setting nor one of the model's raises ``ConfigError``,
as does a key of ours that RecBole does the job of (``lr``: use
``learning_rate``) or that has no effect here (DCCF's ``batches_per_epoch``).

Example (everything RecBole writes -- ``log_tensorboard/``, ``saved/`` -- goes
under ``workdir``)::

    from graphcl.interop.recbole_models import run_recbole
    result = run_recbole("lightgcl", "ml-100k", {
        "embedding_dim": 64, "cl_weight": 0.01, "temperature": 0.5,
        "epochs": 20, "learning_rate": 1e-3, "train_batch_size": 4096,
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "mode": "full"},
        "metrics": ["Recall", "NDCG"], "topk": [20], "valid_metric": "NDCG@20",
        "use_gpu": False}, workdir="recbole_runs")
    result["test"]["ndcg@20"]

or with RecBole's own pipeline (RecBole code must run inside :func:`recbole_scope`)::

    with recbole_scope(hide_argv=True):
        config = Config(model=RecBoleLightGCL, dataset="ml-100k", config_dict={...})
        ...  # create_dataset, data_preparation, Trainer(config, model).fit(...)
    with recbole_scope(full_pickle_load=True):  # full pickle only for checkpoints saved
        test = trainer.evaluate(test_data, load_best_model=True)  # inside a recbole_scope
"""
from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import yaml

from graphcl.config import TRAIN_DEFAULTS, ConfigError, merge_config
from graphcl.data.interactions import InteractionDataset
from graphcl.data.sequences import SequenceDataset
from graphcl.interop.recbole_compat import (
    argv_hidden,
    import_recbole,
    numpy_aliases,
    RECORDED_SAVES,
    recbole_scope,
    recording_torch_saves,
    torch_load_full_pickle,
    working_directory,
)
from graphcl.registry import UnknownMethodError, get_method

with numpy_aliases():  # raises ImportError with the install hint when RecBole is missing
    _abstract = import_recbole("recbole.model.abstract_recommender")
    _utils = import_recbole("recbole.utils")
    _arguments = import_recbole("recbole.utils.argument_list")

__all__ = ["ADAPTERS", "GraphclGeneralRecommender", "GraphclSequentialRecommender", "RecBoleDCCF",
           "RecBoleLightGCL", "RecBoleLightGCN", "RecBoleMCLRec", "RecBoleSASRec", "argv_hidden",
           "graphcl_config", "interactions_from_recbole", "recbole_model", "recbole_scope",
           "recording_torch_saves", "run_recbole", "sequences_from_recbole", "torch_load_full_pickle",
           "working_directory"]

#: RecBole settings read by its pipeline but absent from its default files
_RECBOLE_EXTRA_KEYS = frozenset({
    "model", "dataset", "config_files", "config_file", "nproc", "world_size", "ip", "port", "offset",
    "local_rank", "single_spec", "device", "gpu_id", "use_gpu", "valid_neg_sample_args",
    "test_neg_sample_args", "numerical_features", "encoding", "discretization", "kg_reverse_r",
    "transform", "wandb_project", "save_step", "eval_type", "MODEL_TYPE", "MODEL_INPUT_TYPE"})
#: our training keys -> what to do under RecBole instead
_TRAIN_KEY_HINTS = {"lr": "set learning_rate", "batch_size": "set train_batch_size",
                    "patience": "set stopping_step", "eval_every": "set eval_step",
                    "loss_patience": "it has no loss-based early stopping"}


def _recbole_keys(config: Any) -> set[str]:
    keys = set(getattr(config, "internal_config_dict", {}) or {}) | _RECBOLE_EXTRA_KEYS
    for name in ("general_arguments", "training_arguments", "evaluation_arguments", "dataset_arguments"):
        keys.update(getattr(_arguments, name))
    return keys


def graphcl_config(method: str, config: Any, *, aliases: Mapping[str, str] = {},
                   fixed: Mapping[str, Any] = {}, defaults: Mapping[str, Any] = {},
                   unused: Mapping[str, str] = {}, derived: Mapping[str, Any] = {}) -> dict[str, Any]:
    """Our config for ``method`` from a RecBole ``Config`` (see the module docstring).

    Precedence: registry defaults < registry preset < ``defaults`` (the adapter's) <
    the user's keys (ours, or RecBole's names in ``aliases``) < ``derived`` (taken
    from RecBole's settings). ``fixed``: RecBole keys with the one value the model
    supports; ``unused``: our keys that have no effect under RecBole, with why.
    Raises :class:`ConfigError` on an unknown key, a conflict or a bad value.
    """
    spec = get_method(method)
    final = config.final_config_dict
    external = dict(getattr(config, "external_config_dict", {}) or {})
    internal = getattr(config, "internal_config_dict", {}) or {}
    model_defaults = {k: v for k, v in spec.defaults.items() if k not in TRAIN_DEFAULTS}
    given = {k: v for k, v in final.items() if k in external or k not in internal}
    recbole_keys = _recbole_keys(config)
    for key in external:
        if key.startswith("data."):
            raise ConfigError(f"{spec.name}: '{key}': under RecBole the dataset is RecBole's "
                              f"(load_col, benchmark_filename, ...), not a data.* option")
        if key in _TRAIN_KEY_HINTS and key not in recbole_keys:
            raise ConfigError(f"{spec.name}: '{key}' is a graphcl trainer key; RecBole's Trainer "
                              f"trains here: {_TRAIN_KEY_HINTS[key]}")
    unknown = [k for k in external if k not in recbole_keys and k not in model_defaults
               and k not in aliases and k not in fixed and k != "graphcl_preset"]
    if unknown:
        try:
            merge_config(model_defaults, {k: external[k] for k in unknown}, method=spec.name)
        except ConfigError as exc:
            names = ", ".join(f"{a} -> {o}" for a, o in aliases.items())
            message = str(exc).replace(" (dataset options go as data.<option>)", "")
            raise ConfigError(f"{message}; under RecBole also every RecBole setting and the RecBole "
                              f"names {names}") from None
    for key, value in fixed.items():
        if key in given and str(given[key]).lower() != str(value).lower():
            raise ConfigError(f"{spec.name}: RecBole's '{key}' must be {value!r} here, got {given[key]!r}")
    overrides: dict[str, Any] = {}
    for alias, ours in aliases.items():
        if alias in given:
            if ours in given and given[ours] != given[alias]:
                raise ConfigError(f"{spec.name}: '{alias}' ({given[alias]!r}) and '{ours}' "
                                  f"({given[ours]!r}) set the same hyperparameter; give one")
            overrides[ours] = given[alias]
    overrides.update({k: given[k] for k in model_defaults if k in given})
    for key, why in unused.items():
        if key in overrides:
            raise ConfigError(f"{spec.name}: '{key}' has no effect under RecBole: {why}")
    for key, value in derived.items():
        if key in overrides and overrides[key] != value and key in model_defaults:
            raise ConfigError(f"{spec.name}: '{key}' is taken from RecBole here ({value!r}); "
                              f"got {overrides[key]!r}")
    preset_name = given.get("graphcl_preset", final["dataset"])
    preset = spec.presets.get(str(preset_name).lower(), {}) if preset_name not in (None, "none") else {}
    if "graphcl_preset" in given and preset_name not in (None, "none") and not preset:
        raise ConfigError(f"{spec.name}: no preset '{preset_name}'; presets: {', '.join(spec.presets)}")
    merged, _ = merge_config(spec.defaults, preset, defaults, overrides, derived, method=spec.name)
    return merged


# --------------------------------------------------------------------- data
def interactions_from_recbole(dataset: Any, name: str = "recbole") -> InteractionDataset:
    """Our :class:`InteractionDataset` on a RecBole dataset's interactions (duplicates
    dropped; RecBole ids kept, so users/items are ``user_num``/``item_num`` with the
    padding id 0). Only the ``train`` split is filled: RecBole holds the others."""
    coo = dataset.inter_matrix(form="coo")
    num_users, num_items = int(dataset.user_num), int(dataset.item_num)
    key = torch.unique(torch.as_tensor(coo.row, dtype=torch.long) * num_items
                       + torch.as_tensor(coo.col, dtype=torch.long))
    return _TrainOnly(name, num_users, num_items, torch.stack([key // num_items, key % num_items]),
                      torch.empty(2, 0, dtype=torch.long), torch.empty(2, 0, dtype=torch.long))


class _TrainOnly(InteractionDataset):
    """An InteractionDataset whose held-out splits live elsewhere (in RecBole)."""

    def validate(self) -> None:  # every check of the parent except "some held-out split"
        self.train = torch.as_tensor(self.train, dtype=torch.long)
        InteractionDataset(self.name, self.num_users, self.num_items, self.train, self.valid, self.train)


def sequences_from_recbole(dataset: Any, item_seq: str, item_seq_len: str, user: str, item: str,
                           name: str = "recbole") -> SequenceDataset:
    """Each user's training sequence from a RecBole sequential training set: the
    user's latest prefix row (RecBole keeps rows in time order per user) plus its
    target; at most ``MAX_ITEM_LIST_LENGTH + 1`` items. Our model needs it only to
    be built: RecBole's DataLoader makes the training batches."""
    inter = dataset.inter_feat
    users = inter[user].long()
    if users.numel() == 0:
        raise ValueError(f"{name}: the RecBole training set has no sequences")
    rows = torch.full((int(users.max()) + 1,), -1, dtype=torch.long)
    rows = rows.scatter_reduce(0, users, torch.arange(users.numel()), "amax")
    rows = rows[rows >= 0]
    seqs, lengths, targets = inter[item_seq][rows].long(), inter[item_seq_len][rows].long(), inter[item][rows]
    full = torch.cat([seqs, torch.zeros(rows.numel(), 1, dtype=torch.long)], 1)
    full[torch.arange(rows.numel()), lengths] = targets.long()
    keep = torch.arange(full.size(1)) <= lengths.unsqueeze(1)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lengths + 1, 0)])
    return SequenceDataset(name, int(dataset.item_num) - 1, full[keep], offsets)


def left_padded(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """RecBole's right-padded rows (items in ``[:len]``) as our left-padded ones
    (items in ``[L - len:]``, newest last), same width."""
    width = seqs.size(1)
    src = torch.arange(width, device=seqs.device) - (width - lengths.long()).unsqueeze(1)
    return torch.where(src >= 0, seqs.gather(1, src.clamp_min(0)), torch.zeros_like(seqs))


# ----------------------------------------------------------------- adapters
class _Adapter:
    """What both adapters share: config translation and the ``train_step`` rule."""

    method: ClassVar[str] = ""
    recbole_aliases: ClassVar[dict[str, str]] = {}
    recbole_fixed: ClassVar[dict[str, Any]] = {}
    graphcl_defaults: ClassVar[dict[str, Any]] = {}
    unused_keys: ClassVar[dict[str, str]] = {}
    #: RecBole settings :func:`run_recbole` adds when the user gives none
    recbole_defaults: ClassVar[dict[str, Any]] = {}
    model: Any

    def _graphcl_config(self, config: Any, **derived: Any) -> dict[str, Any]:
        if not self.method:
            raise TypeError(f"{type(self).__name__} names no graphcl method; use a subclass such as "
                            f"RecBoleLightGCL")
        derived = {"seed": int(config["seed"]), "lr": float(config["learning_rate"]),
                   "epochs": int(config["epochs"]), "weight_decay": float(config["weight_decay"] or 0.0),
                   **derived}
        return graphcl_config(self.method, config, aliases=self.recbole_aliases, fixed=self.recbole_fixed,
                              defaults=self.graphcl_defaults, unused=self.unused_keys, derived=derived)

    def _check_single_step(self) -> None:
        if callable(getattr(self.model, "train_step", None)) and not self._single_step_equivalent():
            raise ConfigError(f"{self.method} runs its own optimizer steps (train_step); RecBole's "
                              f"Trainer does one backward and one optimizer step per batch")

    def _single_step_equivalent(self) -> bool:
        return False

    def _negatives(self, config: Any, wanted: bool) -> None:
        has = config["train_neg_sample_args"]["distribution"] != "none"
        if has != wanted:
            fix = ("train_neg_sample_args: {distribution: uniform, sample_num: 1}" if wanted
                   else "train_neg_sample_args: None")
            raise ConfigError(f"{self.method}: {'needs' if wanted else 'takes no'} negative items "
                              f"in training; set {fix}")


class GraphclGeneralRecommender(_Adapter, _abstract.GeneralRecommender):
    """A graphcl general recommender (``graphcl.models.rec``) as a RecBole model."""

    input_type = _utils.InputType.PAIRWISE
    recbole_aliases = {"embedding_size": "embedding_dim", "n_layers": "num_layers"}

    def __init__(self, config: Any, dataset: Any) -> None:
        super().__init__(config, dataset)
        self._negatives(config, True)
        self.graphcl_config = self._graphcl_config(config, batch_size=int(config["train_batch_size"]))
        data = interactions_from_recbole(dataset, str(config["dataset"]))
        self.model = get_method(self.method).build(data, self.graphcl_config, self.device)
        self._check_single_step()
        self._scoring_stamp: tuple[int, ...] | None = None
        self.last_loss_parts: dict[str, torch.Tensor] = {}

    def calculate_loss(self, interaction: Any) -> torch.Tensor:
        batch = (interaction[self.USER_ID], interaction[self.ITEM_ID], interaction[self.NEG_ITEM_ID])
        out = self.model.loss(batch)
        parts = out if isinstance(out, dict) else {"loss": out}
        self.last_loss_parts = {k: v.detach() for k, v in parts.items()}
        return parts["loss"]

    def _full_scores(self, users: torch.Tensor) -> torch.Tensor:
        # our models cache scoring embeddings until train(); RecBole also changes weights in
        # eval mode (load_state_dict of the best checkpoint), so the cache is keyed on the
        # parameters' in-place version counters as well
        stamp = tuple(p._version for p in self.parameters())
        if stamp != self._scoring_stamp:
            self.model.train(self.model.training)  # Recommender.train drops the cache
            self._scoring_stamp = stamp
        with torch.no_grad():
            return self.model.full_scores(users)

    def full_sort_predict(self, interaction: Any) -> torch.Tensor:
        """``(B, item_num)`` scores of every item (column 0: RecBole's padding item)."""
        return self._full_scores(interaction[self.USER_ID])

    def predict(self, interaction: Any) -> torch.Tensor:
        users, items = interaction[self.USER_ID], interaction[self.ITEM_ID]
        unique, inverse = torch.unique(users, return_inverse=True)
        return self._full_scores(unique)[inverse, items]


class GraphclSequentialRecommender(_Adapter, _abstract.SequentialRecommender):
    """A graphcl sequential recommender (``graphcl.models.seq``) as a RecBole model."""

    input_type = _utils.InputType.POINTWISE
    recbole_aliases = {"n_layers": "num_layers", "n_heads": "num_heads", "hidden_dropout_prob": "hidden_dropout",
                       "attn_dropout_prob": "attn_dropout", "initializer_range": "init_std"}
    recbole_fixed = {"hidden_act": "gelu", "loss_type": "CE"}
    unused_keys = {"exclude_history": "RecBole's evaluation decides what it excludes",
                   "malloc_trim_every": "a graphcl trainer option"}
    recbole_defaults = {"train_neg_sample_args": None}

    def __init__(self, config: Any, dataset: Any) -> None:
        super().__init__(config, dataset)
        self._negatives(config, False)
        self.graphcl_config = self._graphcl_config(config, batch_size=int(config["train_batch_size"]),
                                                   max_len=int(self.max_seq_length))
        data = sequences_from_recbole(dataset, self.ITEM_SEQ, self.ITEM_SEQ_LEN, self.USER_ID,
                                      self.ITEM_ID, str(config["dataset"]))
        self.model = get_method(self.method).build(data, self.graphcl_config, self.device)
        self._check_single_step()
        self.last_loss_parts: dict[str, torch.Tensor] = {}

    def _inputs(self, interaction: Any) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = interaction[self.ITEM_SEQ_LEN]
        return left_padded(interaction[self.ITEM_SEQ], lengths), lengths

    def calculate_loss(self, interaction: Any) -> torch.Tensor:
        seqs, lengths = self._inputs(interaction)
        out = self.model.loss({"seq": seqs, "len": lengths, "target": interaction[self.POS_ITEM_ID]})
        parts = out if isinstance(out, dict) else {"loss": out}
        self.last_loss_parts = {k: v.detach() for k, v in parts.items()}
        return parts["loss"]

    def full_sort_predict(self, interaction: Any) -> torch.Tensor:
        """``(B, item_num)``: our ``score`` with RecBole's padding column 0 set to ``-inf``."""
        scores = self.model.score(*self._inputs(interaction))
        pad = scores.new_full((scores.size(0), 1), float("-inf"))
        return torch.cat([pad, scores], 1)

    def predict(self, interaction: Any) -> torch.Tensor:
        scores = self.model.score(*self._inputs(interaction))
        return scores[torch.arange(scores.size(0), device=scores.device), interaction[self.ITEM_ID] - 1]


class RecBoleLightGCL(GraphclGeneralRecommender):
    """Our LightGCL (``graphcl.models.rec.lightgcl``) as a RecBole model."""
    method = "lightgcl"


class RecBoleDCCF(GraphclGeneralRecommender):
    """Our DCCF (``graphcl.models.rec.dccf``) as a RecBole model."""
    method = "dccf"
    unused_keys = {k: "RecBole's DataLoader makes the batches (one pass over the training pairs)"
                   for k in ("batches_per_epoch", "batch_sampling")}
    graphcl_defaults = {"batches_per_epoch": 0}


class RecBoleLightGCN(GraphclGeneralRecommender):
    """Our LightGCN (``graphcl.models.rec.lightgcn``) as a RecBole model."""
    method = "lightgcn"


class RecBoleSASRec(GraphclSequentialRecommender):
    """Our SASRec (``graphcl.models.seq.sasrec``) as a RecBole model."""
    method = "sasrec"
    recbole_fixed = {**GraphclSequentialRecommender.recbole_fixed, "backbone": "sasrec"}


class RecBoleMCLRec(GraphclSequentialRecommender):
    """Our MCLRec (``graphcl.models.seq.mclrec``) in its joint variant as a RecBole model:
    one loss ``L_rec + λ Lcl1 + β (Lcl2 + R)``, one optimizer over all parameters
    (exactly our trainer's ``joint: true`` step). The meta update is refused."""
    method = "mclrec"
    graphcl_defaults = {"joint": True}

    def _single_step_equivalent(self) -> bool:
        if not self.model.joint:
            raise ConfigError("mclrec: the meta update (joint: false) needs two optimizers and three "
                              "steps per batch, which RecBole's Trainer cannot run; use joint: true "
                              "under RecBole, or graphcl's trainer (`graphcl train mclrec`)")
        return True


ADAPTERS: dict[str, type] = {cls.method: cls for cls in (RecBoleLightGCL, RecBoleDCCF, RecBoleLightGCN,
                                                          RecBoleSASRec, RecBoleMCLRec)}


def recbole_model(name: str) -> type:
    """The adapter class for a graphcl method name (``"lightgcl"``) or an adapter
    class name (``"RecBoleLightGCL"``), case-insensitive."""
    key = str(name).lower()
    for method, cls in ADAPTERS.items():
        if key in (method, cls.__name__.lower()):
            return cls
    try:
        get_method(key.removeprefix("recbole"))
    except UnknownMethodError:
        raise UnknownMethodError(f"unknown model '{name}'; RecBole adapters: "
                                 f"{', '.join(ADAPTERS)}") from None
    raise UnknownMethodError(f"'{name}' has no RecBole adapter; adapters: {', '.join(ADAPTERS)}")


# ------------------------------------------------------------------ pipeline
def run_recbole(model: str | type, dataset: str, config_dict: Mapping[str, Any] | None = None, *,
                config_file_list: Sequence[str] | None = None, workdir: str | None = None,
                saved: bool = True, show_progress: bool = False, verbose: bool = False) -> dict[str, Any]:
    """RecBole's standard pipeline for ``model`` (a graphcl method or adapter name, an
    adapter class, or any RecBole model class) on RecBole dataset ``dataset``:
    ``Config``, ``create_dataset``, ``data_preparation``, ``Trainer.fit`` and
    ``Trainer.evaluate`` of the best-validation model (the last one if ``saved``
    is false), scoped as :func:`recbole_scope` does: numpy aliases for the whole run
    (none left afterwards), ``sys.argv`` hidden from ``Config``, and full unpickling
    only for the checkpoint file(s) ``torch.save`` wrote during this run's ``fit``
    (checked by sha256) when the best model is reloaded: every other ``torch.load``
    keeps ``weights_only=True`` (see :func:`torch_load_full_pickle`). RecBole writes
    (``log_tensorboard/``, ``checkpoint_dir``) into the current directory, or
    ``workdir``; it seeds the global RNGs (``init_seed``) as its quick start does.

    Returns ``{"model", "dataset", "valid_metric", "best_valid_score", "best_valid",
    "test", "checkpoint"}`` with metric names as RecBole's (``"ndcg@20"``).
    """
    cls = recbole_model(model) if isinstance(model, str) else model
    if not (isinstance(cls, type) and issubclass(cls, _abstract.AbstractRecommender)):
        raise TypeError(f"model must be a name or a RecBole model class, got {model!r}")
    user_keys = set(config_dict or {})
    for path in config_file_list or ():
        with open(path, encoding="utf-8") as f:
            user_keys |= set(yaml.safe_load(f) or {})
    extra = {k: v for k, v in getattr(cls, "recbole_defaults", {}).items() if k not in user_keys}
    with numpy_aliases(), working_directory(workdir), warnings.catch_warnings():
        # pandas-3 / torch.cuda.amp deprecation notices raised inside RecBole (pandas < 3 is pinned)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole(\.|$)")
        rb_config = import_recbole("recbole.config")
        rb_data = import_recbole("recbole.data")
        with argv_hidden():
            config = rb_config.Config(model=cls, dataset=dataset, config_file_list=config_file_list,
                                      config_dict={**extra, **(config_dict or {})})
        _utils.init_seed(config["seed"], config["reproducibility"])
        data = rb_data.create_dataset(config)
        train_data, valid_data, test_data = rb_data.data_preparation(config, data)
        _utils.init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
        net = cls(config, train_data._dataset).to(config["device"])
        trainer = _utils.get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
        try:
            with recording_torch_saves({}) as own_files:  # only this run's checkpoint(s)
                best_score, best_valid = trainer.fit(train_data, valid_data, verbose=verbose,
                                                     saved=saved, show_progress=show_progress)
            RECORDED_SAVES.update(own_files)  # a later recbole_scope(full_pickle_load=True) may reload it
            with torch_load_full_pickle(own_files) if saved else contextlib.nullcontext():
                test = trainer.evaluate(test_data, load_best_model=saved, show_progress=show_progress)
        finally:
            trainer.tensorboard.close()
        checkpoint = os.path.abspath(trainer.saved_model_file) if saved else None
    return {"model": config["model"], "dataset": config["dataset"],
            "valid_metric": str(config["valid_metric"]).lower(), "best_valid_score": float(best_score),
            "best_valid": {k: float(v) for k, v in (best_valid or {}).items()},
            "test": {k: float(v) for k, v in (test or {}).items()},
            "checkpoint": checkpoint}
