"""``graphcl llm summaries`` and ``graphcl llm gaugllm`` (issue 19: the LLM preparation scripts
became commands), run through the CLI on real data with a local fake OpenAI-compatible server
as the LLM: the files a user reads, one LLM call per unique prompt, none on a re-run, none at
all for template summaries, and one-line errors for bad options."""
from __future__ import annotations

import hashlib
import json

import _fake_openai
import pytest
from _fake_openai import FakeOpenAI

from graphcl.cli import main
from graphcl.llm.summaries import read_summaries_jsonl, tidy_summary

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: sequence runs on the 33 ml-100k items with >= 300 ratings (940 users): seconds, not minutes
SMALL = ["--set", "data.min_item_inter=300", "--threads", "1"]


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path / "cache"))
    fake = FakeOpenAI()
    yield fake
    fake.close()


def _jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _sent(server: FakeOpenAI) -> dict[str, str]:
    """prompt -> the answer the fake server gave (its default: "echo: <prompt>")."""
    return {r["json"]["messages"][-1]["content"]: "echo: " + r["json"]["messages"][-1]["content"]
            for r in server.requests}


def test_summaries_writes_one_row_per_user_and_item_and_a_rerun_makes_no_call(server, tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    argv = ["llm", "summaries", "--dataset", "ml-100k", *SMALL, "--backend", f"openai:fake@{server.url}",
            "--out", str(out), "--chunk", "256"]
    assert main(argv) == 0
    calls = len(server.requests)
    rows = _jsonl(out)
    users = [r for r in rows if "user" in r]
    items = [r for r in rows if "item" in r]
    assert (len(users), len(items)) == (940, 33)               # ml-100k -> ml-100k-seq, filtered
    assert len({r["user"] for r in users}) == 940 and len({r["item"] for r in items}) == 33
    answered = _sent(server)
    assert calls == len(answered)                               # one call per unique prompt
    expected = {tidy_summary("", a) for a in answered.values()}  # chat mode: no answer prime
    assert {r["summary"] for r in rows} <= expected
    assert all(r["summary"].startswith("echo: The movies a viewer watched") for r in users)
    assert all(r["summary"].startswith("echo: Movie: ") for r in items)
    summaries = read_summaries_jsonl(out)                       # what `train sracl --set summaries=` reads
    assert len(summaries.users) == 940
    stats = json.loads(out.with_suffix(".stats.json").read_text())
    assert (stats["unit_prompts"], stats["item_prompts"], stats["llm_calls"]) == (940, 33, calls)
    log = _jsonl(tmp_path / "generation_log.jsonl")
    assert sum(r["calls"] for r in log) == calls and log[-1]["done"] == log[-1]["total"]

    first = out.read_bytes()
    assert main(argv) == 0                                      # everything from the cache
    assert len(server.requests) == calls
    assert out.read_bytes() == first
    stats = json.loads(out.with_suffix(".stats.json").read_text())
    assert (stats["llm_calls"], stats["cache_hits"]) == (0, 973)
    assert stats["logged_calls"] == calls                       # the generating run's rate is kept
    capsys.readouterr()


def test_template_summaries_make_no_llm_call(server, tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    assert main(["llm", "summaries", "--dataset", "ml-100k-seq", "--template", *SMALL, "--out", str(out)]) == 0
    assert server.requests == [] and not (tmp_path / "cache").exists()
    rows = _jsonl(out)
    assert len(rows) == 940 + 33
    users = {r["user"]: r["summary"] for r in rows if "user" in r}
    assert all(s.startswith("This viewer likes ") for s in users.values())
    items = [r["summary"] for r in rows if "item" in r]
    assert all("(19" in s and "Genres:" in s for s in items)   # title (year). Genres: ...
    assert "940 user + 33 item template summaries" in capsys.readouterr().out


@pytest.mark.parametrize("extra,message", [
    (["--template", "--backend", "default"], "--template makes no LLM call; --backend"),
    (["--set", "summary_levle=prefix"], "unknown config key 'summary_levle' for sracl"),
    (["--chunk", "0"], "--chunk must be >= 1"),
    (["--order", "sideways"], "order must be one of users-first"),
    (["--dataset", "no-such-dataset"], "no-such-dataset"),
])
def test_summaries_bad_options_are_one_line_errors(server, tmp_path, capsys, extra, message):
    argv = ["llm", "summaries", *SMALL, "--out", str(tmp_path / "x.jsonl"),
            "--backend", f"openai:fake@{server.url}", *extra]
    if "--template" in extra:
        argv.remove("--backend"), argv.remove(f"openai:fake@{server.url}")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("graphcl: error: ") and message in err, err
    assert server.requests == [] and not (tmp_path / "x.jsonl").exists()


def _short_answer(path: str, request: dict) -> dict:
    """Expert prompts get a short answer (the text encoder embeds it: keep it cheap), edge
    decisions (3 tokens) "Yes" for half the pairs."""
    prompt = request["messages"][-1]["content"]
    digest = hashlib.sha1(prompt.encode()).hexdigest()
    text = (("Yes" if int(digest, 16) % 2 else "No") if request.get("max_tokens") == 3
            else f"Answer {digest[:8]}.")
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}]}


def test_gaugllm_generates_once_and_a_rerun_reads_the_cache(server, shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_fake_openai, "echo_answer", _short_answer)
    out = tmp_path / "gen"
    argv = ["llm", "gaugllm", "--dataset", "webkb-cornell", "--data-root", str(shared_data),
            "--backend", f"openai:fake@{server.url}", "--out-dir", str(out), "--threads", "1",
            "--chunk", "512"]
    assert main(argv) == 0
    calls = len(server.requests)
    gen = json.loads((out / "generation_webkb-cornell.json").read_text())
    stats = gen["stats"]
    assert stats["nodes"] == 191 and stats["expert_prompts"] == 3 * 191
    assert stats["llm_calls"] == calls == stats["unique_prompts"] > 3 * 191
    assert stats["decision_prompts"] == stats["add_candidates"] + stats["delete_candidates"] > 0
    answers = _jsonl(out / "answers.jsonl")                      # a plain copy of every new answer
    assert len(answers) == calls
    for row in answers:
        assert row["answer"] == _short_answer("", {"messages": [{"content": row["prompt"]}],
                                                   "max_tokens": row["config"]["max_tokens"]}
                                              )["choices"][0]["message"]["content"]
    yes = sum(1 for r in answers if r["answer"] == "Yes")
    assert stats["undecided"] == 0 and stats["approved_additions"] + stats["approved_deletions"] > 0
    assert yes > 0
    assert gen["examples"]["IDR"][0]["answer"].startswith("Answer ")

    assert main(argv) == 0
    assert len(server.requests) == calls                          # no call on the re-run
    gen = json.loads((out / "generation_webkb-cornell.json").read_text())
    assert (gen["stats"]["llm_calls"], gen["stats"]["cache_hits"]) == (0, calls)
    assert [r["llm_calls"] for r in gen["runs"]] == [calls, 0]    # the generating run is kept
    assert len(_jsonl(out / "answers.jsonl")) == calls
    capsys.readouterr()


def test_gaugllm_bad_options_are_one_line_errors(server, tmp_path, capsys):
    for extra, message in ((["--set", "k_ad=3"], "unknown config key 'k_ad' for gaugllm"),
                           (["--chunk", "-1"], "--chunk must be >= 1"),
                           (["--import-answers", str(tmp_path / "none.jsonl")], "answers file not found")):
        argv = ["llm", "gaugllm", "--dataset", "webkb-cornell", "--backend", f"openai:fake@{server.url}",
                "--out-dir", str(tmp_path / "gen"), *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    assert server.requests == [] and not (tmp_path / "gen").exists()
