"""A local OpenAI-compatible HTTP server in a thread that can inject faults.

By default it answers ``/v1/chat/completions`` with ``"echo: <last message>"`` and
``/v1/completions`` with ``"echo: <prompt>"``. Queue scripted replies with
:meth:`FakeOpenAI.script` (status, body, headers, delay before answering) to test
retries, timeouts and malformed answers. Every request is recorded.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list | None = None  # None: the echo answer
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    trickle: float = 0.0  # > 0: send the body one byte at a time, this many seconds apart


def echo_answer(path: str, request: dict) -> dict:
    if path.endswith("/chat/completions"):
        content = "echo: " + request["messages"][-1]["content"]
        return {"object": "chat.completion", "model": request.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}]}
    return {"object": "text_completion", "model": request.get("model"),
            "choices": [{"index": 0, "text": "echo: " + request["prompt"], "finish_reason": "stop"}]}


def _prompt_of(request) -> str | None:
    if not isinstance(request, dict):
        return None
    if "messages" in request:
        return request["messages"][-1]["content"]
    return request.get("prompt")


class FakeOpenAI:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay  # default delay of every answer
        self.requests: list[dict] = []
        self.replies: list[Reply] = []
        self.by_prompt: dict[str, Reply] = {}  # the reply to a request whose last prompt is the key
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                record = {"path": self.path, "headers": dict(self.headers), "json": json.loads(raw or b"null")}
                with fake._lock:
                    fake.requests.append(record)
                    prompt = _prompt_of(record["json"])
                    if prompt in fake.by_prompt:
                        reply = fake.by_prompt[prompt]
                    else:
                        reply = fake.replies.pop(0) if fake.replies else Reply(delay=fake.delay)
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                time.sleep(reply.delay)
                with fake._lock:  # before answering: the client may send its next request at once
                    fake.in_flight -= 1
                try:
                    body = reply.body if reply.body is not None else echo_answer(self.path, record["json"])
                    if isinstance(body, (dict, list)):
                        body = json.dumps(body)
                    data = body.encode() if isinstance(body, str) else body
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    if reply.trickle > 0:
                        for i in range(len(data)):
                            self.wfile.write(data[i:i + 1])
                            self.wfile.flush()
                            time.sleep(reply.trickle)
                    else:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
