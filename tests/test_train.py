"""Training loop: determinism, checkpoint/resume, early stopping, divergence, errors."""
import json

import pytest
import torch

from graphcl.config import ConfigError
from graphcl.data.interactions import InteractionDataset
from graphcl.train import TrainingDivergedError, build_trainer, train
from graphcl.train.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def toy():
    g = torch.Generator().manual_seed(0)
    nu, ni = 120, 150
    # two taste clusters so there is signal to learn
    users = torch.randint(0, nu, (5000,), generator=g)
    items = torch.randint(0, ni // 2, (5000,), generator=g) + (users % 2) * (ni // 2)
    pairs = torch.unique(torch.stack([users, items]), dim=1)
    pairs = pairs[:, torch.randperm(pairs.size(1), generator=g)]
    n = pairs.size(1)
    a, b = int(0.8 * n), int(0.9 * n)
    return InteractionDataset("toy", nu, ni, pairs[:, :a], pairs[:, a:b], pairs[:, b:])


CFG = {"epochs": 4, "batch_size": 256, "embedding_dim": 16, "num_layers": 2, "lr": 0.01}


def _params(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_same_seed_same_result(toy, tmp_path):
    r1 = train("lightgcn", toy, config=CFG, run_dir=tmp_path / "a", verbose=False)
    r2 = train("lightgcn", toy, config=CFG, run_dir=tmp_path / "b", verbose=False)
    assert r1.test == r2.test
    assert r1.best_valid == r2.best_valid
    r3 = train("lightgcn", toy, config={**CFG, "seed": 7}, run_dir=tmp_path / "c", verbose=False)
    assert r3.test != r1.test


def test_learns_signal(toy, tmp_path):
    res = train("lightgcn", toy, config={**CFG, "epochs": 15}, run_dir=tmp_path / "r", verbose=False)
    # random ranking gives recall@20 = 20/150 ~ 0.13 over the unseen items; structure gives much more
    assert res.test["recall@20"] > 0.25


def test_resume_matches_uninterrupted_run(toy, tmp_path):
    full = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "full", verbose=False)
    full_result = full.fit()
    part = build_trainer("lightgcn", toy, config={**CFG, "epochs": 2}, run_dir=tmp_path / "part", verbose=False)
    part.fit()
    resumed = build_trainer("lightgcn", toy, config=CFG, resume=tmp_path / "part", verbose=False)
    assert resumed.start_epoch == 2
    resumed_result = resumed.fit()
    assert resumed_result.test == full_result.test
    assert resumed_result.best_epoch == full_result.best_epoch
    last_full = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    last_resumed = load_checkpoint(tmp_path / "part" / "last.pt")["model"]
    for key in last_full:
        torch.testing.assert_close(last_full[key], last_resumed[key], rtol=0, atol=0)


def test_resume_refuses_a_different_config(toy, tmp_path):
    build_trainer("lightgcn", toy, config={**CFG, "epochs": 1}, run_dir=tmp_path / "p", verbose=False).fit()
    with pytest.raises(ValueError, match="different config: lr"):
        build_trainer("lightgcn", toy, config={**CFG, "lr": 0.5}, resume=tmp_path / "p", verbose=False)


def test_run_folder_contents_and_best_checkpoint(toy, tmp_path):
    res = train("lightgcn", toy, config=CFG, run_dir=tmp_path / "r", verbose=False)
    lines = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [x["split"] for x in lines].count("train") == 4
    assert lines[-1]["split"] == "test" and lines[-1]["recall@20"] == res.test["recall@20"]
    best = load_checkpoint(tmp_path / "r" / "best.pt")
    assert best["epoch"] == res.best_epoch
    assert not list((tmp_path / "r").glob("*.tmp"))  # atomic writes leave no temp files
    with pytest.raises(FileExistsError, match="already holds a run"):
        train("lightgcn", toy, config=CFG, run_dir=tmp_path / "r", verbose=False)


def test_early_stopping_stops(toy, tmp_path):
    res = train("lightgcn", toy, config={**CFG, "epochs": 50, "lr": 0.0, "patience": 2},
                run_dir=tmp_path / "r", verbose=False)
    assert res.epochs_run == 3  # no change with lr 0: epoch 0 is best, two evaluations without gain


def test_no_validation_split_trains_all_epochs(toy, tmp_path):
    ds = InteractionDataset("toy", toy.num_users, toy.num_items, toy.train,
                            torch.zeros(2, 0, dtype=torch.long), toy.test)
    res = train("lightgcn", ds, config={**CFG, "epochs": 2}, run_dir=tmp_path / "r", verbose=False)
    assert res.epochs_run == 2 and res.best_valid == {} and "ndcg@20" in res.test


def test_nan_loss_stops_with_a_clear_error(toy, tmp_path):
    with pytest.raises(ConfigError, match="config key 'reg_weight' must be \\[0, inf\\), got nan"):
        train("lightgcn", toy, config={**CFG, "reg_weight": float("nan")}, run_dir=tmp_path / "r",
              verbose=False)
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "n", verbose=False)
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDivergedError, match="non-finite loss at epoch 0, batch 0"):
        trainer.fit()


def test_config_errors(toy, tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'layers'.*num_layers"):
        train("lightgcn", toy, config={"layers": 2}, run_dir=tmp_path / "r")
    with pytest.raises(ConfigError, match="expects an integer"):
        train("lightgcn", toy, config={"num_layers": "two"}, run_dir=tmp_path / "r")
    with pytest.raises(KeyError, match="unknown method 'nope'; available: .*lightgcn"):
        train("nope", toy)
    with pytest.raises(ValueError, match="valid_metric 'auc@20' is not computed"):
        train("lightgcn", toy, config={**CFG, "valid_metric": "auc@20"}, run_dir=tmp_path / "r2", verbose=False)


def test_scientific_notation_in_set_options_and_config_files(tmp_path):
    """``--set lr=1e-3`` and ``lr: 1e-3`` in a YAML file are numbers (PyYAML alone reads strings),
    and the global ``yaml.safe_load`` is left as it is."""
    import yaml
    from graphcl.config import load_config_file, merge_config, parse_set_options
    from graphcl.registry import get_method
    got = parse_set_options(["lr=1e-3", "reg_weight=5E-4", "epochs=1e2", "tag=1e-3x", "x=[1e-3, 2]"])
    assert got == {"lr": 1e-3, "reg_weight": 5e-4, "epochs": 100.0, "tag": "1e-3x", "x": [1e-3, 2]}
    path = tmp_path / "c.yaml"
    path.write_text("lr: 1e-3\nnum_layers: 2\nepochs: 1e1\n")
    assert load_config_file(path) == {"lr": 1e-3, "num_layers": 2, "epochs": 10.0}
    cfg, _ = merge_config(get_method("lightgcn").defaults, load_config_file(path), method="lightgcn")
    assert cfg["lr"] == 1e-3 and cfg["epochs"] == 10 and isinstance(cfg["epochs"], int)
    assert yaml.safe_load("lr: 1e-3") == {"lr": "1e-3"}


def test_loss_patience_stops_on_a_training_loss_plateau(toy, tmp_path):
    """``loss_patience: N`` (HeCo's/MEOW's rule) stops at the first epoch that ends N epochs without
    a new training-loss minimum, evaluates that epoch, and tests the best validation model."""
    n = 2
    cfg = {**CFG, "epochs": 60, "lr": 0.0, "eval_every": 0, "loss_patience": n}  # lr 0: the loss only jitters
    res = train("lightgcn", toy, config=cfg, run_dir=tmp_path / "r", verbose=False)
    records = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r["split"] == "train"]
    assert res.epochs_run == len(losses) < 60
    best, bad, stop_at = float("inf"), 0, None  # replay the rule on the logged losses
    for epoch, loss in enumerate(losses):
        best, bad = (loss, 0) if loss < best else (best, bad + 1)
        if bad >= n:
            stop_at = epoch
            break
    assert stop_at == len(losses) - 1
    assert [r["epoch"] for r in records if r["split"] == "valid"] == [stop_at]  # eval_every 0: only there
    assert res.best_epoch == stop_at and "recall@20" in res.test
    off = train("lightgcn", toy, config={**cfg, "epochs": 8, "loss_patience": 0}, run_dir=tmp_path / "off",
                verbose=False)
    assert off.epochs_run == 8
    with pytest.raises(ValueError, match="config key 'loss_patience' must be an integer in \\[0, inf\\), got -1"):
        train("lightgcn", toy, config={**cfg, "loss_patience": -1}, run_dir=tmp_path / "bad", verbose=False)


def test_resume_accepts_a_checkpoint_from_before_a_new_loop_key(toy, tmp_path):
    """A ``last.pt`` written before ``loss_patience`` existed resumes when the key is at its default."""
    from graphcl.train.checkpoint import save_checkpoint
    build_trainer("lightgcn", toy, config={**CFG, "epochs": 2}, run_dir=tmp_path / "old", verbose=False).fit()
    ckpt = load_checkpoint(tmp_path / "old" / "last.pt")
    del ckpt["config"]["loss_patience"], ckpt["best_loss"], ckpt["loss_bad_epochs"]
    save_checkpoint(ckpt, tmp_path / "old" / "last.pt")
    resumed = build_trainer("lightgcn", toy, config=CFG, resume=tmp_path / "old", verbose=False)
    assert resumed.start_epoch == 2 and resumed.loss_bad_epochs == 0
    with pytest.raises(ValueError, match="different config: loss_patience"):
        build_trainer("lightgcn", toy, config={**CFG, "loss_patience": 5}, resume=tmp_path / "old", verbose=False)


def test_resume_accepts_a_checkpoint_from_before_a_new_method_key(toy, tmp_path):
    """A key added to a method's defaults after a run was saved (e.g. the node methods'
    ``minibatch_size``) is not a config difference while it stays at the method default."""
    from graphcl.config import TRAIN_DEFAULTS
    from graphcl.registry import get_method
    from graphcl.train.checkpoint import save_checkpoint
    defaults = get_method("lightgcn").defaults
    key = next(k for k in defaults if k not in TRAIN_DEFAULTS and k not in CFG)
    build_trainer("lightgcn", toy, config={**CFG, "epochs": 2}, run_dir=tmp_path / "old", verbose=False).fit()
    ckpt = load_checkpoint(tmp_path / "old" / "last.pt")
    del ckpt["config"][key]
    save_checkpoint(ckpt, tmp_path / "old" / "last.pt")
    assert build_trainer("lightgcn", toy, config=CFG, resume=tmp_path / "old", verbose=False).start_epoch == 2
    other = defaults[key] * 2 if isinstance(defaults[key], (int, float)) and not isinstance(defaults[key], bool) \
        else (not defaults[key] if isinstance(defaults[key], bool) else None)
    if other is not None:
        with pytest.raises(ValueError, match=f"different config: {key}"):
            build_trainer("lightgcn", toy, config={**CFG, key: other}, resume=tmp_path / "old", verbose=False)


def test_resume_accepts_a_checkpoint_with_a_key_the_method_no_longer_has(toy, tmp_path):
    """A key removed from a method since a run was saved (SCGC's old ``task: cluster``, now its
    spec's task) cannot be set any more, so it is no config difference; a valid key that
    differs still is."""
    from graphcl.train.checkpoint import save_checkpoint
    build_trainer("lightgcn", toy, config={**CFG, "epochs": 2}, run_dir=tmp_path / "old", verbose=False).fit()
    ckpt = load_checkpoint(tmp_path / "old" / "last.pt")
    ckpt["config"]["task"] = "cluster"
    save_checkpoint(ckpt, tmp_path / "old" / "last.pt")
    assert build_trainer("lightgcn", toy, config=CFG, resume=tmp_path / "old", verbose=False).start_epoch == 2
    with pytest.raises(ValueError, match="different config: num_layers"):
        build_trainer("lightgcn", toy, config={**CFG, "num_layers": 3}, resume=tmp_path / "old", verbose=False)
