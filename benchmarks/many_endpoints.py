"""Requests for one model spread over N servers vs one server: wall time, and its ratio to the ideal.

The server side is made the bottleneck on purpose, as with real inference servers (a vLLM
server's batch is full long before a client runs out of sockets): each loopback server
(`_loopback.py`'s reply, served by `serve_capped` below) works on at most --cap requests at a
time, each for --delay seconds, and queues the rest. One server then answers cap / delay requests
a second whatever the client sends, and N servers N times as many. The client (thinksafe's
`openai:` backend, `ModelOptions.base_urls`) keeps twice the cap in flight per server
(`concurrency` is per endpoint), so every server always has a queue and the client is never what
waits.

For the same workload (--requests distinct chat requests), per N:
- wall_s: the backend's generate_all over N servers (after a warm-up batch that opens connections);
- ideal_s: the one-server wall / N (the brief's ideal; the one-server run is measured, not assumed);
- ratio_to_ideal: wall_s / ideal_s (1.0 = perfect scaling; the target is <= 1.2);
- floor_s: requests * delay / (cap * N), the servers' own limit, for reference;
- per_server: requests each server answered (the spread by outstanding load).
Prints one JSON line. Loopback only; every server stops by itself after --lifetime seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import _completion  # noqa: E402


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, cap: asyncio.Semaphore,
                  served: list[int]) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = json.loads(await reader.readexactly(length)) if length else {}
            if head.startswith(b"GET /served"):
                data = json.dumps({"served": served[0]}).encode()
            else:
                async with cap:  # at most `cap` requests worked on at once; the rest wait their turn
                    await asyncio.sleep(delay)
                served[0] += 1
                data = _completion(body)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def serve_capped(delay: float, cap: int, lifetime_s: float) -> None:
    async def main() -> None:
        limit, served = asyncio.Semaphore(cap), [0]
        server = await asyncio.start_server(lambda r, w: _handle(r, w, delay, limit, served), "127.0.0.1", 0, backlog=4096)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(lifetime_s)
        server.close()

    asyncio.run(main())


@contextmanager
def capped_server(delay: float, cap: int, lifetime_s: float) -> Iterator[str]:
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(delay), str(cap), str(lifetime_s)],
                               stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(process.stdout.readline())}/v1"
    finally:
        process.terminate()
        process.wait(10)


def served(url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/served", timeout=10) as reply:
        return json.loads(reply.read())["served"]


def _requests(n: int, tag: str):
    from thinksafe.schema import GenerationParams, GenerationRequest, Message

    params = GenerationParams(max_new_tokens=128)
    return [GenerationRequest(key=f"{tag}{i}", messages=[Message(role="user", content=f"{tag} question {i}")], params=params)
            for i in range(n)]


def time_pool(urls: list[str], requests: int, concurrency: int) -> dict:
    from thinksafe.models.base import ModelOptions, load_model

    model = load_model("openai:loopback", ModelOptions(base_urls=urls, concurrency=concurrency, api_key_env=None))

    async def go() -> tuple[float, float, int, list[int]]:
        try:
            await model.generate_all(_requests(concurrency * len(urls), "warm-up"))
            before = [served(u) for u in urls]
            cpu, started = time.process_time(), time.perf_counter()
            done = await model.generate_all(_requests(requests, "timed"))
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            errors = sum(1 for c in done if c.error)
            return wall, cpu, errors, [served(u) - b for u, b in zip(urls, before)]
        finally:
            await model.aclose()

    wall, cpu, errors, per_server = asyncio.run(go())
    if errors:
        raise RuntimeError(f"{errors} of {requests} requests failed")
    return {"wall_s": wall, "client_cpu_ms_per_request": 1e3 * cpu / requests, "per_server": per_server}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[2, 4], help="pool sizes compared with one server")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds each server works on one request")
    parser.add_argument("--cap", type=int, default=4, help="requests each server works on at once")
    parser.add_argument("--lifetime", type=float, default=600.0)
    args = parser.parse_args()

    concurrency = 2 * args.cap  # per endpoint: every server keeps a queue, so the servers are the bottleneck
    report: dict = {"benchmark": "many_endpoints", "date": datetime.date.today().isoformat(), "machine": platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version(), "delay_s": args.delay,
                    "cap_per_server": args.cap, "client_concurrency_per_server": concurrency, "requests": args.requests}
    with ExitStack() as stack:
        urls = [stack.enter_context(capped_server(args.delay, args.cap, args.lifetime)) for _ in range(max(args.servers))]
        one = time_pool(urls[:1], args.requests, concurrency)
        report["one_server"] = {**one, "floor_s": args.requests * args.delay / args.cap}
        print(json.dumps(report["one_server"]), file=sys.stderr, flush=True)
        report["runs"] = []
        for n in args.servers:
            pool = time_pool(urls[:n], args.requests, concurrency)
            ideal = one["wall_s"] / n
            report["runs"].append({"servers": n, **pool, "ideal_s": ideal, "ratio_to_ideal": pool["wall_s"] / ideal,
                                   "floor_s": args.requests * args.delay / (args.cap * n),
                                   "speedup": one["wall_s"] / pool["wall_s"]})
            print(json.dumps(report["runs"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve_capped(float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        main()
