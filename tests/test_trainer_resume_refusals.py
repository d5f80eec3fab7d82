"""What resume and restart refuse, and how they say it (issue 23: mutants of these checks
survived): a restart (a run killed before its first checkpoint) is checked against its
``config.json`` exactly as a resume is against ``last.pt``: config, data options and data."""
from __future__ import annotations

import contextlib
import io
import json

import pytest
from _rec_helpers import clustered_dataset

from graphcl.train import ResumeError, Trainer, build_trainer
from graphcl.train.checkpoint import load_checkpoint, save_checkpoint

CFG = {"epochs": 2, "batch_size": 256, "embedding_dim": 8, "num_layers": 1}


@pytest.fixture(scope="module")
def toy():
    return clustered_dataset(60, 80, 1500)


def _killed_in_epoch_0(toy, tmp_path, **config) -> object:
    """A run folder as a run killed in its first epoch leaves it: config.json, no last.pt."""
    run = tmp_path / "killed"
    trainer = build_trainer("lightgcn", toy, config={**CFG, **config}, run_dir=run, verbose=False)
    trainer._claim_run_dir()
    assert (run / "config.json").is_file() and not (run / "last.pt").exists()
    return run


def test_restart_says_it_starts_over_and_then_trains(toy, tmp_path):
    run = _killed_in_epoch_0(toy, tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        trainer = build_trainer("lightgcn", toy, config=CFG, resume=run, verbose=True, progress=False)
    assert out.getvalue() == f"{run} holds no checkpoint yet (killed in its first epoch): starting over there\n"
    assert trainer.restarted and trainer.fit().epochs_run == 2


def test_restart_refuses_another_config_naming_the_config_json(toy, tmp_path):
    run = _killed_in_epoch_0(toy, tmp_path)
    with pytest.raises(ResumeError, match=rf"^{run}/config.json was trained with a different config: lr "
                                          r"\(lr: 0.001 in the checkpoint, 0.05 now\)"):
        build_trainer("lightgcn", toy, config={**CFG, "lr": 0.05}, resume=run, verbose=False)


def test_restart_refuses_other_data_options_and_other_data(toy, tmp_path):
    run = _killed_in_epoch_0(toy, tmp_path)
    record = json.loads((run / "config.json").read_text(encoding="utf-8"))
    record["data_options"] = {"seed": 3}
    (run / "config.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(ResumeError, match=r"different config: data.seed \(data.seed: 3 in the checkpoint, "
                                          r"'<unset>' now\)"):
        build_trainer("lightgcn", toy, config=CFG, resume=run, verbose=False)

    del record["data_options"]            # a config.json from before data options were recorded: none
    (run / "config.json").write_text(json.dumps(record), encoding="utf-8")
    assert build_trainer("lightgcn", toy, config=CFG, resume=run, verbose=False).restarted

    other = clustered_dataset(60, 80, 1500, seed=1)
    with pytest.raises(ResumeError, match=rf"^{run}/config.json was trained on other data: the loaded dataset "
                                          r"toy differs from the checkpoint's"):
        build_trainer("lightgcn", other, config=CFG, resume=run, verbose=False)


def test_a_config_json_without_a_config_is_another_config(toy, tmp_path):
    run = _killed_in_epoch_0(toy, tmp_path)
    record = json.loads((run / "config.json").read_text(encoding="utf-8"))
    del record["config"]
    (run / "config.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(ResumeError, match=r"config.json was trained with a different config: "):
        build_trainer("lightgcn", toy, config=CFG, resume=run, verbose=False)


def test_resume_names_the_checkpoint_and_lists_at_most_8_differences(toy, tmp_path):
    run = tmp_path / "run"
    build_trainer("lightgcn", toy, config=CFG, run_dir=run, verbose=False).fit()
    changed = {"lr": 0.5, "weight_decay": 0.5, "reg_weight": 0.5, "batch_size": 7, "embedding_dim": 4,
               "num_layers": 3, "patience": 3, "eval_every": 3, "seed": 3}
    with pytest.raises(ResumeError) as info:
        build_trainer("lightgcn", toy, config={**CFG, **changed}, resume=run, verbose=False)
    message = str(info.value)
    names = sorted(changed)
    assert message.startswith(f"{run}/last.pt was trained with a different config: {', '.join(names)} (")
    detail = message[message.index(" (") + 2:message.index("); resume with the same settings")]
    shown = detail.split("; ")
    assert [part.split(":")[0] for part in shown] == names[:8]          # the 9th is named, not detailed
    assert shown[0] == "batch_size: 256 in the checkpoint, 7 now"


def test_a_checkpoint_without_a_stop_record_has_not_stopped(toy, tmp_path):
    run = tmp_path / "run"
    build_trainer("lightgcn", toy, config=CFG, run_dir=run, verbose=False).fit()
    ckpt = load_checkpoint(run / "last.pt")
    del ckpt["stopped"]                    # written before early stops were recorded
    save_checkpoint(ckpt, run / "last.pt")
    resumed = build_trainer("lightgcn", toy, config={**CFG, "epochs": 3}, resume=run, verbose=False)
    assert resumed.stopped == ""
    assert resumed.fit().epochs_run == 3


def test_a_method_outside_the_registry_is_checked_on_every_key(toy, tmp_path):
    """Without registry defaults to tell a new key from a changed one, every key counts."""
    from graphcl.registry import get_method
    base = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "b", verbose=False).config
    build = get_method("lightgcn").build
    run = tmp_path / "mine"
    Trainer("my-model", build, toy, base, run_dir=run, verbose=False).fit()
    again = Trainer("my-model", build, toy, {**base, "embedding_dim": 16}, run_dir=run, verbose=False)
    with pytest.raises(ResumeError, match=r"different config: embedding_dim \(embedding_dim: 8 in the "
                                          r"checkpoint, 16 now\)"):
        again.resume(run / "last.pt")


def test_a_study_seed_killed_before_its_first_checkpoint_starts_over_in_its_folder(tmp_path, shared_data):
    """run_seed (studies, graphcl reproduce) on a folder holding only config.json: trained there."""
    from graphcl.reproduce import run_seed
    run = tmp_path / "seed0"
    requested = {**CFG, "epochs": 1, "seed": 0}
    build_trainer("lightgcn", "ml-100k", config=requested, data_root=shared_data, run_dir=run,
                  verbose=False)._claim_run_dir()
    assert (run / "config.json").is_file() and not (run / "last.pt").exists()
    lines = []
    seed_run = run_seed("lightgcn", "ml-100k", 0, run, requested, data_root=shared_data, device="cpu",
                        verbose=False, log=lines.append)
    assert seed_run.status == "trained" and (run / "result.json").is_file()
    assert lines[0] == f"seed 0: {run} holds no checkpoint yet; starting the seed again there"
