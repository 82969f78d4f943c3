"""A real loopback HTTP server speaking the OpenAI chat and completions API, with scripted
replies and injected faults (429 with Retry-After, 500, slow replies, dropped connections,
a body trickled one byte at a time, 200 replies with no answer in them, error bodies that echo
the request headers)."""

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
    """One faulted attempt. Kinds:

    "429" (with `retry_after`, sent as given: a number or an HTTP date string), "500", "drop"
    (connection closed with no reply), "slow" (`delay_s` before the scripted reply), "trickle"
    (headers, then the scripted reply's body one byte every `delay_s`), "null_content" (200, message
    content null and no reasoning), "bad_json" (200, a body that is not JSON), "no_choices" (200,
    `choices: []`), "echo_headers" (`status`, default 400, with the request headers in the error).
    """

    kind: str
    retry_after: float | str | None = None
    delay_s: float = 0.0
    status: int = 400


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
                    elif fault.kind == "trickle":
                        self._trickle(json.dumps(server._render(body, server.script(body))).encode(), fault.delay_s)
                        return
                    elif self._send_fault(fault, body):
                        return
                reply = server.script(body)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self._send(200, server._render(body, reply))

            def _send_fault(self, fault: Fault, body: dict[str, Any]) -> bool:
                """Answer one of the one-shot faults; False for a kind this does not know."""
                if fault.kind == "429":
                    extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                    self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, extra)
                elif fault.kind == "500":
                    self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
                elif fault.kind == "null_content":
                    self._send(200, server._render(body, Reply(content=None)))
                elif fault.kind == "bad_json":
                    self._send_raw(200, b'{"id": "chatcmpl-1", "choices": [{"index": 0, "mess')
                elif fault.kind == "no_choices":
                    self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "choices": []})
                elif fault.kind == "echo_headers":
                    echoed = str(self.headers)  # raw "Name: value" lines, Authorization included
                    self._send(fault.status, {"error": {"message": f"bad request; you sent:\n{echoed}", "type": "invalid"}})
                else:
                    return False
                return True

            def _trickle(self, data: bytes, interval_s: float) -> None:
                """A complete, valid reply, sent so slowly that only a total deadline stops it."""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.flush()
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        time.sleep(interval_s)
                except OSError:  # the client gave up; that is the point
                    self.close_connection = True

            def _send_raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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
