"""A fast loopback OpenAI-style server and a minimal asyncio client, for the network benchmarks.

The server is plain asyncio (HTTP/1.1 keep-alive, one coroutine per connection) in its own
process on 127.0.0.1: every chat completion is answered after a fixed delay with a reply of
about 100 tokens (thinking in <think> tags, then an answer that refuses or complies depending
on the prompt). It stops by itself after `lifetime_s` even if nobody stops it.

The minimal client is the floor the harness is compared with: `concurrency` workers, each
with one persistent connection, posting the same request bodies and parsing the JSON replies.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

THINKING = ("The user is asking something I should weigh carefully before answering. Let me consider what "
            "they need, whether any part of it could cause harm, and how to respond helpfully and safely. ")
REFUSAL = "I'm sorry, but I can't help with that request. It could cause real harm to people. "
ANSWER = "Sure, here is a clear and practical answer to your question, step by step, with the details you need. "


def reply_text(prompt: str) -> str:
    """About 100 tokens: two sentences of thinking, then a refusal or a helpful answer."""
    refuse = hashlib.sha256(prompt.encode()).digest()[0] % 3 == 0
    answer = REFUSAL if refuse else ANSWER
    return f"<think>{THINKING * 2}</think>\n\n{answer * 2}"


def _completion(body: dict) -> bytes:
    messages = body.get("messages") or []
    prompt = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    text = reply_text(prompt if isinstance(prompt, str) else json.dumps(prompt))
    payload = {
        "id": "chatcmpl-loopback", "object": "chat.completion", "created": 0, "model": body.get("model", "loopback"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 100, "total_tokens": 120},
    }
    return json.dumps(payload).encode()


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = json.loads(await reader.readexactly(length)) if length else {}
            await asyncio.sleep(delay)
            data = _completion(body) if head.startswith(b"POST") else b'{"object":"list","data":[]}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def serve(delay: float, lifetime_s: float) -> None:
    """Serve on a free loopback port, print it, and stop after `lifetime_s` whatever happens."""
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: _handle(r, w, delay), "127.0.0.1", 0, backlog=4096)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(lifetime_s)
        server.close()

    try:
        import uvloop  # optional: a faster event loop where installed

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


@contextmanager
def loopback_server(delay: float = 0.25, lifetime_s: float = 900.0) -> Iterator[str]:
    """Start the server in its own process; yields its base URL (http://127.0.0.1:PORT/v1)."""
    process = subprocess.Popen([sys.executable, __file__, str(delay), str(lifetime_s)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


async def minimal_client(base_url: str, bodies: list[dict], concurrency: int) -> list[dict]:
    """Post every body to /chat/completions over `concurrency` keep-alive connections; parsed replies."""
    host_port = base_url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    path = "/" + base_url.split("//", 1)[1].split("/", 1)[1].rstrip("/") + "/chat/completions"
    results: list[dict] = [{}] * len(bodies)
    next_index = iter(range(len(bodies)))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for index in next_index:
                data = json.dumps(bodies[index]).encode()
                writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                             % (path.encode(), host_port.encode(), len(data)) + data)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:")
                results[index] = json.loads(await reader.readexactly(length))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(bodies)))))
    return results


def time_minimal_client(base_url: str, bodies: list[dict], concurrency: int) -> float:
    started = time.perf_counter()
    replies = asyncio.run(minimal_client(base_url, bodies, concurrency))
    elapsed = time.perf_counter() - started
    assert all(r.get("choices") for r in replies)
    return elapsed


if __name__ == "__main__":
    serve(float(sys.argv[1]), float(sys.argv[2]))
