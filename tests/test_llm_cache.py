"""LLM generation layer without a model: GenerationConfig, cache keys, the sqlite
response cache (concurrent writers, killed runs), CachedGenerator (no call for a
cached prompt, offline mode) and the generator factory."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _llm_helpers import EchoGenerator, answer_of, write_entries

from graphcl.llm import (CachedGenerator, GenerationConfig, LLMError, ResponseCache, UncachedCallError,
                         cache_key, cached_generator, make_generator)
from graphcl.llm.factory import parse_spec
from graphcl.llm.response_cache import FILE_NAME

REPO = Path(__file__).resolve().parents[1]


def test_generation_config_validates_and_keys():
    cfg = GenerationConfig(max_tokens=32, stop=["\n", "###"])
    assert cfg.stop == ("\n", "###") and cfg.greedy
    assert cfg.key() == {"max_tokens": 32, "temperature": 0.0, "top_p": 1.0, "stop": ["\n", "###"], "seed": 0}
    assert GenerationConfig(stop="\n").stop == ("\n",)
    hash(cfg)  # frozen: usable as a dict key
    for bad in ({"max_tokens": 0}, {"temperature": -1.0}, {"top_p": 0.0}, {"top_p": 1.5},
                {"stop": ("",)}, {"seed": 1.5}, {"temperature": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            GenerationConfig(**bad)


def test_cache_key_covers_every_input():
    gen = EchoGenerator()
    cfg = GenerationConfig()
    base = cache_key(gen, "hello", cfg)
    assert base == cache_key(EchoGenerator(), "hello", GenerationConfig())  # stable across objects
    assert len(base) == 64 and int(base, 16) >= 0
    variants = {cache_key(gen, "hello!", cfg), cache_key(EchoGenerator(model="echo-v2"), "hello", cfg),
                cache_key(gen, "hello", GenerationConfig(max_tokens=5)),
                cache_key(gen, "hello", GenerationConfig(temperature=0.7)),
                cache_key(gen, "hello", GenerationConfig(seed=1)),
                cache_key(gen, "hello", GenerationConfig(stop=("x",))),
                cache_key(gen, "hello", GenerationConfig(top_p=0.9))}
    chat = EchoGenerator()
    chat.chat = True
    variants.add(cache_key(chat, "hello", cfg))
    other_backend = EchoGenerator()
    other_backend.backend = "other"
    variants.add(cache_key(other_backend, "hello", cfg))
    with_params = EchoGenerator()
    with_params.cache_params = {"n_ctx": 512}
    variants.add(cache_key(with_params, "hello", cfg))
    assert base not in variants and len(variants) == 10


def test_response_cache_roundtrip_and_default_path(tmp_path, monkeypatch):
    cache = ResponseCache(tmp_path / "r.sqlite")
    assert cache.get_many(["a"]) == {}
    cache.put_many({"a": "alpha", "b": "béta ✓\n"}, backend="x", model="m")
    cache.put_many({"a": "alpha2"})
    assert cache.get_many(["a", "b", "c", "a"]) == {"a": "alpha2", "b": "béta ✓\n"}
    assert cache.count() == 2 and cache.integrity_check() == "ok"
    assert cache.stats()["entries"] == 2
    with pytest.raises(TypeError, match="strings"):
        cache.put_many({"c": None})
    with sqlite3.connect(tmp_path / "r.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path / "c"))
    assert ResponseCache().path == tmp_path / "c" / FILE_NAME
    assert ResponseCache(tmp_path).path == tmp_path / FILE_NAME  # a folder: the default name inside


def test_unreadable_cache_file_gives_a_clear_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a sqlite file" * 100)
    with pytest.raises(OSError, match="bad.sqlite"):
        ResponseCache(bad).get_many(["k"])


def test_rerun_makes_no_call_for_cached_prompts(tmp_path):
    gen = EchoGenerator()
    cached = CachedGenerator(gen, tmp_path / "c.sqlite", batch_size=3, progress=False)
    prompts = [f"prompt {i}" for i in range(7)] + ["prompt 2"]  # a duplicate
    cfg = GenerationConfig(max_tokens=9)
    first = cached.generate(prompts, cfg)
    assert first == [answer_of(p, cfg) for p in prompts]
    assert [len(b) for b in gen.batches] == [3, 3, 1]  # 7 unique prompts, batches of 3
    assert cached.calls == 7 and cached.hits == 0 and cached.batches == 3
    # a new process on the same file: no backend call at all
    fresh = EchoGenerator()
    again = CachedGenerator(fresh, tmp_path / "c.sqlite", progress=False)
    assert again.generate(list(reversed(prompts)), cfg) == list(reversed(first))
    assert fresh.batches == [] and again.calls == 0 and again.hits == 8
    # only new prompts / new parameters reach the backend
    assert again.generate(prompts[:2] + ["new one"], cfg)[-1] == answer_of("new one", cfg)
    assert fresh.prompts_seen == ["new one"]
    again.generate(prompts[:1], GenerationConfig(max_tokens=10))
    assert fresh.prompts_seen == ["new one", "prompt 0"]
    # the wrapper is a generator too: same identity, so it can be wrapped or passed on
    assert (again.backend, again.model, again.chat) == ("test-echo", "echo-v1", False)
    assert again.generate([]) == []


def test_offline_refuses_uncached_prompts(tmp_path):
    CachedGenerator(EchoGenerator(), tmp_path, progress=False).generate(["known"])
    gen = EchoGenerator()
    offline = CachedGenerator(gen, tmp_path, offline=True, progress=False)
    assert offline.generate(["known"]) == [answer_of("known", GenerationConfig())]
    with pytest.raises(UncachedCallError, match=r"1 of 2 prompts.*'unknown prompt'"):
        offline.generate(["known", "unknown prompt"])
    assert gen.batches == []  # nothing reached the backend
    assert issubclass(UncachedCallError, LLMError)
    with pytest.raises(UncachedCallError):
        cached_generator(gen, cache=tmp_path, offline=True, progress=False).generate(["other"])


def test_backend_returning_wrong_count_is_an_error(tmp_path):
    class Short(EchoGenerator):
        def generate(self, prompts, config):
            return ["only one"]
    with pytest.raises(LLMError, match="expected a list of strings"):
        CachedGenerator(Short(), tmp_path, progress=False).generate(["a", "b"])
    assert ResponseCache(tmp_path).count() == 0  # nothing half-written
    with pytest.raises(TypeError, match="single string"):
        CachedGenerator(EchoGenerator(), tmp_path, progress=False).generate("a prompt")


def test_concurrent_writer_processes_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=write_entries, args=(path, tag, 25, 8)) for tag in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    cache = ResponseCache(path)
    assert cache.integrity_check() == "ok"
    assert cache.count() == 3 * 25 * 8 + 1
    got = cache.get_many([f"b-{b}-{k}" for b in range(25) for k in range(8)] + ["shared"])
    assert got["b-24-7"] == "answer b 24 7" and got["shared"] == "same" and len(got) == 201


_KILLED_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from _llm_helpers import EchoGenerator
    from graphcl.llm import CachedGenerator, GenerationConfig
    gen = EchoGenerator(delay=0.15, announce=True)
    CachedGenerator(gen, sys.argv[1], batch_size=5, progress=False).generate(
        [f"q{i}" for i in range(200)], GenerationConfig(max_tokens=4))
""")


def test_killed_generation_run_resumes_with_only_missing_prompts(tmp_path):
    cache_path = tmp_path / "run.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(cache_path), str(REPO / "tests")],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        for _ in range(5):  # five batches started: at least four committed
            assert proc.stdout.readline().strip() == "batch"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    cache = ResponseCache(cache_path)
    assert cache.integrity_check() == "ok"
    done = cache.count()
    assert 20 <= done < 200 and done % 5 == 0  # whole batches only
    cfg = GenerationConfig(max_tokens=4)
    prompts = [f"q{i}" for i in range(200)]
    gen = EchoGenerator()
    out = CachedGenerator(gen, cache, batch_size=50, progress=False).generate(prompts, cfg)
    assert out == [answer_of(p, cfg) for p in prompts]
    assert gen.prompts_seen == prompts[done:]  # exactly the prompts the killed run had not finished


def test_factory_specs(tmp_path):
    assert parse_spec(None) == parse_spec("default") == parse_spec("llama-cpp") == {"backend": "llama-cpp"}
    assert parse_spec("llama-cpp:/m/x.gguf") == {"backend": "llama-cpp", "model": "/m/x.gguf"}
    assert parse_spec("openai:gpt-4o-mini@http://127.0.0.1:8080/v1") == \
        {"backend": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:8080/v1"}
    assert parse_spec("openai:@cf/meta/llama@https://h.example/v1")["model"] == "@cf/meta/llama"
    assert parse_spec("openai:llama3") == {"backend": "openai", "model": "llama3"}
    with pytest.raises(ValueError, match="unknown generator spec"):
        parse_spec("gpt4")
    with pytest.raises(ValueError, match="backend"):
        parse_spec({"model": "x"})
    with pytest.raises(LLMError, match="no such GGUF model file"):
        make_generator(f"llama-cpp:{tmp_path / 'missing.gguf'}")
    gen = make_generator("openai:m@http://127.0.0.1:9/v1", chat=False, timeout=3)
    assert (gen.backend, gen.model, gen.chat, gen.url) == ("openai", "m", False, "http://127.0.0.1:9/v1/completions")
    gen = make_generator({"backend": "openai", "model": "m", "base_url": "http://localhost:8000"})
    assert gen.chat and gen.url == "http://localhost:8000/v1/chat/completions"
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['n_threads'\] for the openai backend"):
        make_generator("openai:m@http://127.0.0.1:9/v1", n_threads=2)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['timeout'\] for the llama-cpp backend"):
        make_generator("llama-cpp", timeout=3)
    echo = EchoGenerator()
    assert make_generator(echo) is echo
    with pytest.raises(TypeError, match="existing generator"):
        make_generator(echo, n_threads=2)
    wrapped = cached_generator(echo, cache=tmp_path, batch_size=2, progress=False)
    assert isinstance(wrapped, CachedGenerator) and wrapped.generator is echo and wrapped.batch_size == 2
