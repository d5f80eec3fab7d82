"""Every registered method trains from the CLI (issue 19): one short run per method on its
smallest dataset, through ``graphcl train ... --json``; the run exits 0, writes its run
folder and reports the metrics of its evaluation task."""
from __future__ import annotations

import json
import os

import pytest
from _fake_openai import FakeOpenAI

from graphcl.cli import main
from graphcl.registry import BUILTIN_METHODS, get_method, list_methods

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NODE = ["--set", "epochs=1", "--set", "probe_seeds=1", "--set", "probe_epochs=20"]
#: sequential runs on the 30-odd most popular ml-100k items (items with >= 300 ratings)
SEQ = ["--set", "epochs=1", "--set", "max_len=20", "--set", "hidden_size=16", "--set", "inner_size=32",
       "--set", "data.min_item_inter=300"]
#: method -> (dataset, needs ../shared/data, extra arguments that keep the run to seconds)
RUNS = {
    "lightgcn": ("ml-100k", False, ["--set", "epochs=1"]),
    "lightgcl": ("ml-100k", False, ["--set", "epochs=1"]),
    "dccf": ("ml-100k", False, ["--set", "epochs=1", "--set", "batches_per_epoch=2"]),
    "bm3": ("ml-100k", False, ["--set", "epochs=1", "--set", "modalities=[genre]"]),
    "contrast_rec": ("ml-100k", False, ["--set", "epochs=1"]),
    "sgl": ("ml-100k", False, ["--set", "epochs=1"]),
    "simgcl": ("ml-100k", False, ["--set", "epochs=1"]),
    "xsimgcl": ("ml-100k", False, ["--set", "epochs=1"]),
    "ncl": ("ml-100k", False, ["--set", "epochs=1", "--set", "num_clusters=50", "--set", "warm_up=0"]),
    "sasrec": ("ml-100k", False, SEQ),
    "gru4rec": ("ml-100k", False, SEQ),
    "mclrec": ("ml-100k", False, SEQ),
    "sracl": ("ml-100k", False, [*SEQ, "--set", "semantics=fallback-cooccurrence"]),
    "grace": ("cora", True, NODE),
    "contrast": ("cora", True, NODE),
    "csgcl": ("cora", True, NODE),
    "scgc": ("cora", True, [*NODE, "--set", "pretrain_epochs=1", "--set", "kmeans_seeds=1"]),
    "pamc": ("cora", True, [*NODE, "--set", "pretrain_epochs=1", "--set", "kmeans_seeds=1"]),
    "meow": ("acm", True, ["--set", "epochs=1", "--set", "probe_epochs=20", "--set", "cluster_seeds=1"]),
    "adameow": ("acm", True, ["--set", "epochs=1", "--set", "probe_epochs=20", "--set", "cluster_seeds=1"]),
    "gaugllm": ("webkb-cornell", True, NODE),   # + an OpenAI-compatible fake server as its LLM
}
#: the metric each kind of evaluation reports
METRIC = {"rec": "recall@20", "seq": "hit@20", "cora": "acc", "acm": "macro_f1_20", "webkb-cornell": "acc"}


def test_every_registered_method_has_a_run():
    assert set(RUNS) == set(list_methods()) == set(BUILTIN_METHODS)


@pytest.mark.parametrize("method", sorted(RUNS))
def test_method_trains_from_the_cli(method, request, tmp_path, monkeypatch, capsys):
    dataset, shared, extra = RUNS[method]
    root = request.getfixturevalue("shared_data") if shared else None   # skips without it
    args = ["train", method, "--dataset", dataset, *extra, "--run-dir", str(tmp_path / "run"),
            "--quiet", "--json", "--threads", "1"]
    if shared:
        args += ["--data-root", str(root)]
    server = None
    if method == "gaugllm":
        server = FakeOpenAI()
        monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path / "cache"))
        args += ["--set", f"llm=openai:fake@{server.url}"]
    try:
        assert main(args) == 0
    finally:
        if server is not None:
            server.close()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    kind = get_method(method).kind
    metric = METRIC[kind] if kind in ("rec", "seq") else METRIC[dataset]
    values = [v for k, v in result["test"].items() if k.startswith(metric)]
    assert values and all(0.0 <= v <= 1.0 for v in values), result["test"]
    assert {"config.json", "result.json", "last.pt"} <= set(os.listdir(tmp_path / "run"))
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["test"] == result["test"]
    assert (saved["method"], saved["epochs_run"]) == (method, 1)
