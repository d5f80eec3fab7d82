"""A client for OpenAI-compatible text-generation servers (standard library only).

Works with hosted APIs and local servers that speak the OpenAI protocol (vLLM,
llama.cpp's server, ``python -m llama_cpp.server``, Ollama): ``chat=True`` posts
each prompt as one user message to ``<base_url>/chat/completions`` (plus an
optional system message); ``chat=False`` posts it as plain text to
``<base_url>/completions``. ``base_url`` is the API root, e.g.
``http://127.0.0.1:8000/v1`` (a bare ``http://host:port`` gets ``/v1`` appended).

Robustness: ``timeout`` bounds each whole HTTP request (connecting, sending,
waiting and reading the answer): a watchdog closes the connection when it runs
out, so a server that trickles bytes cannot hold a call past it. HTTP 429, 5xx,
connection errors and timeouts are retried up to ``max_retries`` times with
exponential backoff (``backoff * 2**attempt`` seconds plus up to 10% jitter, at
most ``max_wait``), honouring a ``Retry-After`` header (seconds or an HTTP date)
when the server sends one. Any other HTTP error (401, 404, 400: a wrong key, model
or request) is raised at once. An answer that is not JSON, has no ``choices``, or
whose choice has no text raises :class:`~graphcl.llm.generation.LLMError` naming
the URL; a refusal (``finish_reason: content_filter``, a non-empty ``refusal``) or
an empty answer (in chat mode, or in completion mode unless the model stopped at
a stop string, ``finish_reason: stop``) raises
:class:`~graphcl.llm.generation.RefusedAnswerError`, which the cache never stores.

Prompts of one ``generate`` call run on a pool of ``concurrency`` threads. When
one fails, the prompts not yet sent are cancelled, those in flight finish, and
:class:`~graphcl.llm.generation.PartialGenerationError` carries every answer
received (by prompt index) so the cache keeps them.

Proxies: the ``http_proxy``/``https_proxy``/``no_proxy`` environment variables are
honoured as by ``urllib`` (an https URL is tunnelled with CONNECT).
"""
from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Mapping, Sequence

from graphcl.llm.generation import (GenerationConfig, LLMError, PartialGenerationError,
                                    RefusedAnswerError, check_prompts)

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


def _raise_partial(error: LLMError, answers: dict[int, str], total: int) -> None:
    """Re-raise ``error``, as a :class:`PartialGenerationError` carrying ``answers``
    when some prompts of the call were answered."""
    if not answers:
        raise error
    raise PartialGenerationError(f"{error} ({total - len(answers)} of {total} prompts not answered; "
                                 f"the {len(answers)} answers received are kept)",
                                 answers, total - len(answers)) from error


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
    timeout: seconds one whole HTTP request may take (connect, send, wait, read).
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

    def _connection(self) -> tuple[http.client.HTTPConnection, str]:
        """An unopened connection to the server (through the environment's proxy, if
        any) and the request target to send."""
        url = urllib.parse.urlsplit(self.url)
        secure = url.scheme == "https"
        port = url.port or (443 if secure else 80)
        proxy = None if urllib.request.proxy_bypass(url.hostname or "") else \
            urllib.request.getproxies().get(url.scheme)
        cls = http.client.HTTPSConnection if secure else http.client.HTTPConnection
        if not proxy:
            return cls(url.hostname, port, timeout=self.timeout), url.path
        via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if secure:
            conn = cls(via.hostname, via.port or 80, timeout=self.timeout)
            conn.set_tunnel(url.hostname, port)
            return conn, url.path
        return http.client.HTTPConnection(via.hostname, via.port or 80, timeout=self.timeout), self.url

    def _post_once(self, data: bytes) -> Any:
        """One POST, bounded as a whole by ``timeout`` (a watchdog shuts the socket down)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        conn, target = self._connection()
        expired = threading.Event()
        opened: list[socket.socket] = []  # the socket, kept: http.client drops conn.sock once a
        # response that closes the connection is being read

        def abort() -> None:
            expired.set()
            for sock in opened:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked read at once
                except OSError:
                    pass

        timed_out = _Retryable(f"timed out after {self.timeout:g} s")
        watchdog = threading.Timer(self.timeout, abort)
        watchdog.daemon = True
        self.requests += 1
        watchdog.start()
        try:
            conn.connect()
            opened.append(conn.sock)
            if expired.is_set():
                raise timed_out
            conn.request("POST", target, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            status, retry_after = resp.status, resp.getheader("Retry-After")
        except _Retryable:
            raise
        except (TimeoutError, http.client.HTTPException, ConnectionError, OSError) as exc:
            if expired.is_set() or isinstance(exc, TimeoutError):
                raise timed_out from exc
            raise _Retryable(f"connection failed: {type(exc).__name__}: {exc}") from exc
        finally:
            watchdog.cancel()
            conn.close()
        if expired.is_set():
            raise timed_out
        if status in RETRY_STATUS:
            raise _Retryable(f"HTTP {status}: {_snippet(raw)}", _retry_after(retry_after))
        if status >= 400:
            hint = f" (is ${self.api_key_env} set?)" if status in (401, 403) else ""
            raise LLMError(f"POST {self.url} failed with HTTP {status}{hint}: {_snippet(raw)}")
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
        finish = choice.get("finish_reason")
        refusal = message.get("refusal") if self.chat and isinstance(message, dict) else None
        if finish == "content_filter" or (isinstance(refusal, str) and refusal.strip()):
            raise RefusedAnswerError(f"{where}: the server refused the prompt (finish_reason "
                                     f"{finish!r}{f', refusal {_snippet(refusal)!r}' if refusal else ''})")
        field = "choices[0].message.content" if self.chat else "choices[0].text"
        if not isinstance(text, str):
            raise LLMError(f"{where}: malformed answer, {field} is not text: {_snippet(json.dumps(choice))}")
        if not text.strip() and (self.chat or finish != "stop"):
            raise RefusedAnswerError(f"{where}: empty answer ({field} is {text!r}, finish_reason "
                                     f"{finish!r})")
        return text

    def _one(self, prompt: str, config: GenerationConfig) -> str:
        return self._text(self._post(self._body(prompt, config)))

    def generate(self, prompts: Sequence[str], config: GenerationConfig = GenerationConfig()) -> list[str]:
        """One answer per prompt, in order; up to ``concurrency`` requests at once.

        Raises :class:`PartialGenerationError` (with the answers received) when a
        prompt fails after others were answered, the plain error when none was."""
        prompts = check_prompts(prompts)
        answers: dict[int, str] = {}
        if len(prompts) <= 1 or self.concurrency == 1:
            for i, prompt in enumerate(prompts):
                try:
                    answers[i] = self._one(prompt, config)
                except LLMError as exc:
                    _raise_partial(exc, answers, len(prompts))
            return [answers[i] for i in range(len(prompts))]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts)),
                                thread_name_prefix="graphcl-llm") as pool:
            futures = [pool.submit(self._one, p, config) for p in prompts]
            try:
                wait(futures, return_when=FIRST_EXCEPTION)
            finally:  # on an error or an interrupt: send nothing more, let those in flight end
                for f in futures:
                    f.cancel()
            wait(futures)
        first: BaseException | None = None
        for i, f in enumerate(futures):
            if f.cancelled():
                continue
            if f.exception() is None:
                answers[i] = f.result()
            elif first is None:
                first = f.exception()
        if first is not None:
            if not isinstance(first, LLMError):
                raise first
            _raise_partial(first, answers, len(prompts))
        return [answers[i] for i in range(len(prompts))]

    def __repr__(self) -> str:
        return f"OpenAIGenerator({self.model!r}, {self.url}, chat={self.chat})"
