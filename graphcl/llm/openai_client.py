"""A client for OpenAI-compatible text-generation servers (standard library only).

Works with hosted APIs and local servers that speak the OpenAI protocol (vLLM,
llama.cpp's server, ``python -m llama_cpp.server``, Ollama): ``chat=True`` posts
each prompt as one user message to ``<base_url>/chat/completions`` (plus an
optional system message); ``chat=False`` posts it as plain text to
``<base_url>/completions``. ``base_url`` is the API root, e.g.
``http://127.0.0.1:8000/v1`` (a bare ``http://host:port`` gets ``/v1`` appended).

Robustness: each request has a ``timeout``; HTTP 429, 5xx, connection errors
and timeouts are retried up to ``max_retries`` times with exponential backoff
(``backoff * 2**attempt`` seconds plus up to 10% jitter, at most ``max_wait``),
honouring a ``Retry-After`` header (seconds or an HTTP date) when the server
sends one. Any other HTTP error (401, 404, 400: a wrong key, model or request) is
raised at once. An answer that is not JSON, has no ``choices``, or whose choice
has no text raises :class:`~graphcl.llm.generation.LLMError` naming the URL.
Prompts of one ``generate`` call run on a pool of ``concurrency`` threads.
"""
from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping, Sequence

from graphcl.llm.generation import GenerationConfig, LLMError, check_prompts

__all__ = ["OpenAIGenerator", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def _normalize_base_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"base_url must be an http(s) URL like http://127.0.0.1:8000/v1, got {url!r}")
    path = parsed.path.rstrip("/")
    if path == "":
        path = "/v1"
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _snippet(body: bytes | str, limit: int = 200) -> str:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, wait


class OpenAIGenerator:
    """Generate through an OpenAI-compatible HTTP API; see the module docstring.

    Parameters
    ----------
    model: the model name sent in each request.
    base_url: the API root (default ``$OPENAI_BASE_URL``, else the OpenAI API).
    chat: True: ``/chat/completions`` (chat-tuned models); False: ``/completions``.
    api_key: the key; None: read ``$<api_key_env>`` (no key: no Authorization header,
        fine for local servers).
    api_key_env: the environment variable holding the key (default ``OPENAI_API_KEY``).
    system_prompt: an optional system message (chat mode only).
    timeout: seconds per HTTP request.
    max_retries: retries after the first attempt on 429/5xx/connection errors/timeouts.
    backoff, max_wait: the first backoff and the cap of any single wait, in seconds.
    concurrency: requests in flight at once within one ``generate`` call.
    extra_body: more JSON fields for every request (e.g. ``{"top_k": 1}``); they
        enter the cache key.
    """

    backend = "openai"

    def __init__(self, model: str, base_url: str | None = None, *, chat: bool = True,
                 api_key: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 system_prompt: str | None = None, timeout: float = 60.0, max_retries: int = 4,
                 backoff: float = 1.0, max_wait: float = 60.0, concurrency: int = 4,
                 extra_body: Mapping[str, Any] | None = None) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a non-empty string, got {model!r}")
        if timeout <= 0 or max_retries < 0 or backoff < 0 or max_wait < 0 or int(concurrency) < 1:
            raise ValueError(f"need timeout > 0, max_retries >= 0, backoff >= 0, max_wait >= 0, "
                             f"concurrency >= 1; got {timeout}, {max_retries}, {backoff}, {max_wait}, "
                             f"{concurrency}")
        self.model = model
        self.base_url = _normalize_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self.chat = bool(chat)
        self.api_key = api_key if api_key is not None else os.environ.get(api_key_env)
        self.api_key_env = api_key_env
        self.system_prompt = system_prompt
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_wait = float(max_wait)
        self.concurrency = int(concurrency)
        self.extra_body = dict(extra_body or {})
        self.requests = 0  # HTTP requests sent, retries included

    @property
    def url(self) -> str:
        return f"{self.base_url}/{'chat/completions' if self.chat else 'completions'}"

    @property
    def cache_params(self) -> dict:
        params: dict[str, Any] = {"base_url": self.base_url}
        if self.system_prompt is not None and self.chat:
            params["system_prompt"] = self.system_prompt
        if self.extra_body:
            params["extra_body"] = self.extra_body
        return params

    # -------------------------------------------------------------- request
    def _body(self, prompt: str, config: GenerationConfig) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": config.max_tokens,
                                "temperature": config.temperature, "top_p": config.top_p,
                                "seed": config.seed, "n": 1, "stream": False}
        if config.stop:
            body["stop"] = list(config.stop)
        if self.chat:
            messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            body["messages"] = messages + [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        body.update(self.extra_body)
        return body

    def _post_once(self, data: bytes) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        self.requests += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            if exc.code in RETRY_STATUS:
                raise _Retryable(f"HTTP {exc.code}: {_snippet(body)}",
                                 _retry_after(exc.headers.get("Retry-After") if exc.headers else None))
            hint = f" (is ${self.api_key_env} set?)" if exc.code in (401, 403) else ""
            raise LLMError(f"POST {self.url} failed with HTTP {exc.code}{hint}: {_snippet(body)}") from exc
        except TimeoutError as exc:  # socket.timeout is an alias since Python 3.10
            raise _Retryable(f"timed out after {self.timeout:g} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Retryable(f"timed out after {self.timeout:g} s") from exc
            raise _Retryable(f"connection failed: {exc.reason}") from exc
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            raise _Retryable(f"connection failed: {type(exc).__name__}: {exc}") from exc
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LLMError(f"POST {self.url}: the answer is not JSON ({exc}): {_snippet(raw)}") from exc

    def _post(self, body: dict[str, Any]) -> Any:
        data = json.dumps(body).encode("utf-8")
        for attempt in range(self.max_retries + 1):
            try:
                return self._post_once(data)
            except _Retryable as exc:
                if attempt == self.max_retries:
                    raise LLMError(f"POST {self.url} failed after {attempt + 1} attempt(s): "
                                   f"{exc.reason}") from None
                wait = exc.wait if exc.wait is not None else \
                    self.backoff * (2 ** attempt) * (1.0 + 0.1 * random.random())
                time.sleep(min(wait, self.max_wait))
        raise AssertionError("unreachable")  # pragma: no cover

    def _text(self, answer: Any) -> str:
        """The generated text of one answer, with a clear error when malformed."""
        where = f"POST {self.url}"
        if not isinstance(answer, dict):
            raise LLMError(f"{where}: expected a JSON object, got {type(answer).__name__}: "
                           f"{_snippet(json.dumps(answer))}")
        if "error" in answer and "choices" not in answer:
            raise LLMError(f"{where}: the server answered with an error: {_snippet(json.dumps(answer['error']))}")
        choices = answer.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise LLMError(f"{where}: malformed answer, no 'choices' list: {_snippet(json.dumps(answer))}")
        choice = choices[0]
        if self.chat:
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else None
        else:
            text = choice.get("text")
        if not isinstance(text, str):
            field = "choices[0].message.content" if self.chat else "choices[0].text"
            raise LLMError(f"{where}: malformed answer, {field} is not text: {_snippet(json.dumps(choice))}")
        return text

    def _one(self, prompt: str, config: GenerationConfig) -> str:
        return self._text(self._post(self._body(prompt, config)))

    def generate(self, prompts: Sequence[str], config: GenerationConfig = GenerationConfig()) -> list[str]:
        """One answer per prompt, in order; up to ``concurrency`` requests at once."""
        prompts = check_prompts(prompts)
        if len(prompts) <= 1 or self.concurrency == 1:
            return [self._one(p, config) for p in prompts]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts)),
                                thread_name_prefix="graphcl-llm") as pool:
            futures = [pool.submit(self._one, p, config) for p in prompts]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def __repr__(self) -> str:
        return f"OpenAIGenerator({self.model!r}, {self.url}, chat={self.chat})"
