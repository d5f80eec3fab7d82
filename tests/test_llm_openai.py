"""The OpenAI-compatible client against a local fault-injecting HTTP server:
request shape, retries (429 with Retry-After, 5xx), exhausted retries, timeouts,
malformed answers, bounded concurrency, caching, and the ``graphcl llm`` CLI."""
from __future__ import annotations

import json
import time

import pytest
from _fake_openai import FakeOpenAI, Reply

from graphcl.cli import main
from graphcl.llm import CachedGenerator, GenerationConfig, LLMError, OpenAIGenerator, make_generator


@pytest.fixture
def fake():
    server = FakeOpenAI()
    yield server
    server.close()


def _client(fake, **kw) -> OpenAIGenerator:
    kw.setdefault("backoff", 0.01)
    return make_generator(f"openai:test-model@{fake.url}", **kw)


def test_chat_request_shape_and_answer(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    gen = _client(fake, system_prompt="Be brief.")
    cfg = GenerationConfig(max_tokens=7, temperature=0.5, top_p=0.9, stop=("\n",), seed=3)
    assert gen.generate(["hello", "world"], cfg) == ["echo: hello", "echo: world"]
    req = fake.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == "Bearer sk-test-123"
    body = req["json"]
    assert body["model"] == "test-model" and body["messages"] == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": body["messages"][1]["content"]}]
    assert {k: body[k] for k in ("max_tokens", "temperature", "top_p", "stop", "seed")} == \
        {"max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "stop": ["\n"], "seed": 3}


def test_completion_endpoint_and_key_from_named_variable(fake, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("MY_LLM_KEY", "k2")
    gen = _client(fake, chat=False, api_key_env="MY_LLM_KEY")
    assert gen.generate(["The sky is"], GenerationConfig(max_tokens=3)) == ["echo: The sky is"]
    req = fake.requests[0]
    assert req["path"] == "/v1/completions" and req["json"]["prompt"] == "The sky is"
    assert "messages" not in req["json"] and req["headers"]["Authorization"] == "Bearer k2"
    no_key = _client(fake, chat=False, api_key_env="NO_SUCH_VARIABLE_SET")
    no_key.generate(["x"])
    assert "Authorization" not in fake.requests[-1]["headers"]  # local servers need no key


def test_429_then_200_honours_retry_after(fake):
    fake.script(Reply(429, {"error": "slow down"}, {"Retry-After": "0.4"}))
    gen = _client(fake, backoff=0.0)
    start = time.monotonic()
    assert gen.generate(["hi"]) == ["echo: hi"]
    assert time.monotonic() - start >= 0.4  # waited as told, not the (zero) backoff
    assert len(fake.requests) == 2 and gen.requests == 2
    # a Retry-After shorter than the backoff wins too
    fake.script(Reply(429, "busy", {"Retry-After": "0"}))
    start = time.monotonic()
    assert _client(fake, backoff=20.0).generate(["again"]) == ["echo: again"]
    assert time.monotonic() - start < 10


def test_5xx_is_retried_with_backoff(fake):
    fake.script(Reply(502, "bad gateway"), Reply(500, "oops"))
    assert _client(fake, max_retries=2).generate(["x"]) == ["echo: x"]
    assert len(fake.requests) == 3


def test_503_exhausting_retries_names_url_and_status(fake):
    fake.script(*[Reply(503, "overloaded")] * 3)
    gen = _client(fake, max_retries=2)
    with pytest.raises(LLMError) as info:
        gen.generate(["x"])
    msg = str(info.value)
    assert f"{fake.url}/chat/completions" in msg and "HTTP 503" in msg and "3 attempt(s)" in msg
    assert "overloaded" in msg and len(fake.requests) == 3


def test_client_errors_are_not_retried(fake):
    fake.script(Reply(401, {"error": {"message": "invalid api key"}}))
    with pytest.raises(LLMError, match=r"HTTP 401 \(is \$OPENAI_API_KEY set\?\).*invalid api key"):
        _client(fake).generate(["x"])
    assert len(fake.requests) == 1


def test_timeout_is_retried_then_reported(fake):
    fake.script(Reply(delay=1.5), Reply(delay=1.5))
    gen = _client(fake, timeout=0.3, max_retries=1)
    start = time.monotonic()
    with pytest.raises(LLMError, match=r"failed after 2 attempt\(s\): timed out after 0.3 s"):
        gen.generate(["slow"])
    assert time.monotonic() - start < 1.4 and len(fake.requests) == 2
    fake.script(Reply(delay=0.6))  # one slow answer, then a fast one: the retry succeeds
    assert _client(fake, timeout=0.3, max_retries=1).generate(["ok"]) == ["echo: ok"]


def test_connection_refused_is_a_clear_error(fake):
    url = fake.url
    fake.close()
    with pytest.raises(LLMError, match=r"failed after 2 attempt\(s\): connection failed"):
        make_generator(f"openai:m@{url}", max_retries=1, backoff=0.01).generate(["x"])


@pytest.mark.parametrize("reply, message", [
    (Reply(200, {"id": "x", "object": "chat.completion"}), "no 'choices' list"),
    (Reply(200, {"choices": []}), "no 'choices' list"),
    (Reply(200, "<html>gateway</html>"), "not JSON.*<html>gateway</html>"),
    (Reply(200, {"choices": [{"message": {"role": "assistant", "content": None}}]}),
     r"choices\[0\].message.content is not text"),
    (Reply(200, {"error": {"message": "model not loaded"}}), "answered with an error.*model not loaded"),
    (Reply(200, [1, 2]), "expected a JSON object"),
])
def test_malformed_answers_raise_llm_error(fake, reply, message):
    fake.script(reply)
    with pytest.raises(LLMError, match=message) as info:
        _client(fake).generate(["x"])
    assert fake.url in str(info.value)
    assert len(fake.requests) == 1  # a malformed answer is not retried


def test_concurrency_is_bounded_and_order_kept(fake):
    fake.delay = 0.25
    prompts = [f"p{i}" for i in range(10)]
    out = _client(fake, concurrency=3).generate(prompts)
    assert out == [f"echo: {p}" for p in prompts]
    assert fake.max_in_flight == 3
    fake.max_in_flight = 0
    _client(fake, concurrency=1).generate(prompts[:3])
    assert fake.max_in_flight == 1


def test_cache_rerun_sends_no_request(fake, tmp_path):
    gen = _client(fake)
    first = CachedGenerator(gen, tmp_path, progress=False).generate(["a", "b", "a"])
    assert first == ["echo: a", "echo: b", "echo: a"] and len(fake.requests) == 2
    again = CachedGenerator(_client(fake), tmp_path, progress=False)
    assert again.generate(["b", "a"]) == ["echo: b", "echo: a"]
    assert len(fake.requests) == 2 and again.calls == 0
    # another endpoint mode is another cache entry
    CachedGenerator(_client(fake, chat=False), tmp_path, progress=False).generate(["a"])
    assert len(fake.requests) == 3


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="base_url must be an http"):
        OpenAIGenerator("m", "localhost:8000")
    with pytest.raises(ValueError, match="concurrency >= 1"):
        OpenAIGenerator("m", "http://x", concurrency=0)


# ------------------------------------------------------------------- the CLI
def test_cli_generate_prompt_and_jsonl(fake, tmp_path, capsys):
    cache = str(tmp_path / "c.sqlite")
    backend = f"openai:m@{fake.url}"
    assert main(["llm", "generate", "--prompt", "hi there", "--backend", backend, "--cache", cache,
                 "--max-tokens", "5", "--no-chat"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "echo: hi there\n" and "1 generated" in captured.err
    assert fake.requests[0]["path"] == "/v1/completions" and fake.requests[0]["json"]["max_tokens"] == 5
    src = tmp_path / "prompts.jsonl"
    src.write_text(json.dumps({"id": 1, "prompt": "first"}) + "\n\n" + json.dumps("second") + "\n")
    out = tmp_path / "answers.jsonl"
    assert main(["llm", "generate", "--input", str(src), "--output", str(out), "--backend", backend,
                 "--cache", cache, "--option", "concurrency=2"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [{"id": 1, "prompt": "first", "response": "echo: first"},
                    {"prompt": "second", "response": "echo: second"}]
    n = len(fake.requests)
    assert main(["llm", "generate", "--input", str(src), "--backend", backend, "--cache", cache,
                 "--offline"]) == 0  # all cached: answered offline, to stdout
    assert len(fake.requests) == n and "echo: second" in capsys.readouterr().out
    assert main(["llm", "cache-stats", "--cache", cache, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["entries"] == 3 and stats["integrity"] == "ok"
    assert stats["by_model"][0]["backend"] == "openai"


def test_cli_errors_are_one_line(fake, tmp_path, capsys):
    cache = str(tmp_path / "c.sqlite")
    assert main(["llm", "generate", "--prompt", "never seen", "--backend", f"openai:m@{fake.url}",
                 "--cache", cache, "--offline"]) == 2
    assert "offline mode: 1 of 1 prompts" in capsys.readouterr().err and not fake.requests
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"text": "no prompt key"}\n')
    assert main(["llm", "generate", "--input", str(bad), "--backend", f"openai:m@{fake.url}"]) == 2
    assert "bad.jsonl:2: expected a JSON string or an object with a string 'prompt'" in capsys.readouterr().err
    assert main(["llm", "cache-stats", "--cache", str(tmp_path / "none.sqlite")]) == 2
    assert "no response cache at" in capsys.readouterr().err
    assert main(["llm", "generate", "--prompt", "x", "--backend", f"openai:m@{fake.url}", "--threads", "2"]) == 2
    assert "unknown option(s) ['n_threads'] for the openai backend" in capsys.readouterr().err
    fake.script(*[Reply(503, "down")] * 2)
    assert main(["llm", "generate", "--prompt", "x", "--backend", f"openai:m@{fake.url}", "--no-cache",
                 "--option", "max_retries=1", "--option", "backoff=0"]) == 2
    assert "HTTP 503" in capsys.readouterr().err
