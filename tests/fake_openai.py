"""A real loopback HTTP server speaking the OpenAI chat and completions API, with scripted
replies and injected faults (429 with Retry-After, 500, slow replies, dropped connections)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str | None = ""
    reasoning_content: str | None = None
    finish_reason: str = "stop"
    delay_s: float = 0.0


@dataclass
class Fault:
    kind: str  # "429", "500", "drop", "slow"
    retry_after: float | None = None
    delay_s: float = 0.0


Script = Callable[[dict[str, Any]], Reply]


def last_user_text(body: dict[str, Any]) -> str:
    if "prompt" in body:
        return str(body["prompt"])
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            return message.get("content") or ""
    return ""


@dataclass
class FakeOpenAIServer:
    """Start with `with FakeOpenAIServer(script) as server:`; `server.base_url` ends in /v1."""

    script: Script
    faults: dict[str, list[Fault]] = field(default_factory=dict)  # prompt substring -> faults for the first calls
    attempts: Counter = field(default_factory=Counter)  # prompt -> requests seen (faulted ones included)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers_seen: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                prompt = last_user_text(body)
                with server._lock:
                    server.attempts[prompt] += 1
                    attempt = server.attempts[prompt]
                    server.bodies.append(body)
                    server.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                fault = server._fault_for(prompt, attempt)
                if fault is not None:
                    if fault.kind == "drop":
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if fault.kind == "slow":
                        time.sleep(fault.delay_s)
                    elif fault.kind == "429":
                        extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                        self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, extra)
                        return
                    elif fault.kind == "500":
                        self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
                        return
                reply = server.script(body)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self._send(200, server._render(body, reply))

            def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that time out close their end; that is part of the tests

        self._httpd = QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _fault_for(self, prompt: str, attempt: int) -> Fault | None:
        for marker, faults in self.faults.items():
            if marker in prompt and attempt <= len(faults):
                return faults[attempt - 1]
        return None

    @staticmethod
    def _render(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        usage = {"prompt_tokens": 10, "completion_tokens": len((reply.content or "").split()), "total_tokens": 0}
        if "prompt" in body:
            return {
                "id": "cmpl-1", "object": "text_completion", "created": 0, "model": body.get("model"),
                "choices": [{"index": 0, "text": reply.content, "finish_reason": reply.finish_reason, "logprobs": None}],
                "usage": usage,
            }
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.reasoning_content is not None:
            message["reasoning_content"] = reply.reasoning_content
        return {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
            "usage": usage,
        }

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
