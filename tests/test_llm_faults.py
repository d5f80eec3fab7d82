"""The three LLM-client faults of the security issue, against the local fake server:
answers received before a failure are committed to the cache, ``timeout`` bounds the
whole request (a server trickling bytes cannot hold a call past it), and a refused or
empty answer is an error that is never cached."""
from __future__ import annotations

import time

import pytest
from _fake_openai import FakeOpenAI, Reply

from graphcl.llm import (CachedGenerator, GenerationConfig, LLMError, PartialGenerationError,
                         RefusedAnswerError, ResponseCache, cache_key, make_generator)


@pytest.fixture
def fake():
    server = FakeOpenAI()
    yield server
    server.close()


def _client(fake, **kw):
    kw.setdefault("backoff", 0.01)
    return make_generator(f"openai:test-model@{fake.url}", **kw)


def _refusal(content=""):
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "content_filter"}]}


@pytest.mark.parametrize("concurrency", [1, 3])
def test_answers_received_before_a_failure_are_cached(fake, tmp_path, concurrency):
    prompts = [f"p{i}" for i in range(6)]
    fake.by_prompt["p4"] = Reply(400, {"error": {"message": "bad prompt"}})
    gen = _client(fake, concurrency=concurrency)
    cached = CachedGenerator(gen, tmp_path, progress=False, batch_size=8)
    with pytest.raises(PartialGenerationError, match="HTTP 400.*bad prompt") as info:
        cached.generate(prompts)
    answered = info.value.answers
    assert 4 not in answered and all(answered[i] == f"echo: p{i}" for i in answered)
    assert set(range(4)) <= set(answered)          # everything sent before p4 came back
    cache = ResponseCache(tmp_path)
    keys = {i: cache_key(gen, p, GenerationConfig()) for i, p in enumerate(prompts)}
    stored = cache.get_many(list(keys.values()))
    assert {i for i, k in keys.items() if k in stored} == set(answered)
    # the re-run asks only for what is missing
    del fake.by_prompt["p4"]
    sent = len(fake.requests)
    again = CachedGenerator(_client(fake, concurrency=concurrency), tmp_path, progress=False)
    assert again.generate(prompts) == [f"echo: {p}" for p in prompts]
    assert len(fake.requests) - sent == len(prompts) - len(answered) == again.calls


def test_timeout_bounds_the_whole_request_against_a_trickling_server(fake):
    # ~3 s of body, one byte every 20 ms: each single read is fast, the request is not
    fake.script(Reply(trickle=0.02, body={"choices": [{"message": {"content": "x" * 150},
                                                       "finish_reason": "stop"}]}))
    gen = _client(fake, timeout=0.5, max_retries=0)
    start = time.monotonic()
    with pytest.raises(LLMError, match=r"failed after 1 attempt\(s\): timed out after 0.5 s"):
        gen.generate(["slow"])
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize("body, message", [
    (_refusal(""), "refused the prompt.*content_filter"),
    (_refusal("I cannot"), "refused the prompt.*content_filter"),
    ({"choices": [{"message": {"content": "", "refusal": "I can't help with that."},
                   "finish_reason": "stop"}]}, "refused the prompt.*I can't help"),
    ({"choices": [{"message": {"content": "  "}, "finish_reason": "stop"}]}, "empty answer"),
    ({"choices": [{"message": {"content": ""}, "finish_reason": "length"}]}, "empty answer"),
])
def test_refused_or_empty_answers_are_errors_and_never_cached(fake, tmp_path, body, message):
    fake.script(Reply(200, body))
    cached = CachedGenerator(_client(fake), tmp_path, progress=False)
    with pytest.raises(RefusedAnswerError, match=message):
        cached.generate(["q"])
    assert cached.cache.get_many([cache_key(cached.generator, "q", GenerationConfig())]) == {}
    # the next run asks again and gets (and caches) a real answer
    assert cached.generate(["q"]) == ["echo: q"] and len(fake.requests) == 2
    assert CachedGenerator(_client(fake), tmp_path, progress=False).generate(["q"]) == ["echo: q"]
    assert len(fake.requests) == 2


def test_completion_mode_keeps_an_empty_answer_that_stopped_at_a_stop_string(fake):
    # a completion prompt primed with "Answer: The user likes" may legitimately stop at once
    fake.script(Reply(200, {"choices": [{"text": "", "finish_reason": "stop"}]}),
                Reply(200, {"choices": [{"text": "", "finish_reason": "length"}]}))
    gen = _client(fake, chat=False)
    assert gen.generate(["Answer:"], GenerationConfig(stop=("\n",))) == [""]
    with pytest.raises(RefusedAnswerError, match="empty answer"):
        gen.generate(["Answer:"])
