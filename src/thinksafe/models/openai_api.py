"""Any OpenAI-compatible server (vLLM, SGLang, Ollama, DeepSeek API) over HTTP.

Requests go straight to `/chat/completions` (or `/completions` for a pre-formatted prompt)
through one aiohttp session with keep-alive connections: the openai SDK over httpx cost about
3 ms of CPU per request on a 2-core machine, enough to make the client, not the server, the
bottleneck at 64 requests in flight (README, Performance). Its retry policy is kept: 408, 409,
429, 5xx, timeouts and dropped connections are retried with exponential backoff and jitter
(0.5 s doubling to 8 s). A Retry-After (seconds or an HTTP date) is honoured, clamped to
MAX_RETRY_AFTER_S (60 s): a server asking for longer waits that long, then is asked again.
A 200 reply that carries no answer is a server fault and retried the same way: a body that is
not JSON, one with no choices, or a message whose content is null with no reasoning either
(unless finish_reason is "length": thinking cut off before any text is a real reply).
A request's `chat_template_kwargs` (e.g. `{"enable_thinking": false}`) is sent as the top-level body field of
that name on chat requests: vLLM and SGLang pass it to the chat template; the DeepSeek API ignores it.
``ModelOptions.timeout_s`` is a deadline for each whole attempt (connect, send, read the full
body), so a server that trickles its reply cannot hold a request forever. A request that still
fails becomes a completion with ``error`` set, so it is stored and retried on the next run
rather than dropped; that error passes through `thinksafe.secrets.redact` first, so an error
body echoing the request headers never puts the API key into the store or a report.

Several endpoints (`ModelOptions.base_urls`, --base-url given more than once) serve one model:
each attempt goes to the endpoint with the fewest requests in flight (`thinksafe.models.endpoints`),
`concurrency` is per endpoint, and an attempt that fails with a connection error or a 5xx takes its
endpoint out for a cool-down (2 s doubling to 60 s) and is retried at once on another endpoint,
within the same `max_retries`; when all are out, it waits for the earliest to come back. Other
retryable failures back off as above. With one endpoint nothing of this applies.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import aiohttp

from thinksafe.models.base import Model, ModelOptions, register_backend
from thinksafe.models.endpoints import Endpoint, EndpointPool
from thinksafe.reasoning import split_reasoning
from thinksafe.schema import Completion, GenerationRequest
from thinksafe.secrets import redact

RETRY_STATUS = frozenset({408, 409, 429})
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 60.0  # the longest Retry-After honoured; a longer one is clamped to this
_sleep = asyncio.sleep  # every wait between attempts goes through here (tests record them)


class APIError(Exception):
    """A request that failed for good; the message is what the completion records."""


class APIStatusError(APIError):
    def __init__(self, status: int, message: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status}: {message[:500]}")
        self.status = status
        self.retry_after = retry_after


class APITimeoutError(APIError):
    """No reply within the timeout."""


class APIConnectionError(APIError):
    """The connection failed or was dropped."""


class APIReplyError(APIError):
    """A 200 reply with no usable answer in it (not JSON, no choices, null content)."""


def _reasoning_field(message: dict[str, Any]) -> str | None:
    """Servers name the separate thinking `reasoning_content` (DeepSeek, vLLM) or `reasoning`."""
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _retry_after(headers: Any) -> float | None:
    """Retry-After as seconds to wait (delta-seconds or an HTTP date), clamped to MAX_RETRY_AFTER_S."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (email.utils.parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = max(seconds, 0.0)  # a date already past: retry now
    if not 0 <= seconds < float("inf"):
        return None
    return min(seconds, MAX_RETRY_AFTER_S)


def _checked_reply(raw: bytes, chat: bool) -> dict[str, Any]:
    """The parsed 200 reply, or APIReplyError when it holds no answer a retry might fix."""
    try:
        reply = json.loads(raw)
    except ValueError as problem:
        raise APIReplyError(f"server returned malformed JSON: {problem} ({len(raw)} bytes)") from None
    if not isinstance(reply, dict):
        raise APIReplyError(f"server returned malformed JSON: a {type(reply).__name__}, not an object")
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise APIReplyError("server reply has no choices")
    choice = choices[0]
    if choice.get("finish_reason") == "length":
        return reply  # cut off by max_tokens: whatever is there (maybe nothing) is the real reply
    if chat:
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        if message.get("content") is None and _reasoning_field(message) is None:
            raise APIReplyError("server returned an empty reply (content null)")
    elif choice.get("text") is None:
        raise APIReplyError("server returned an empty reply (text null)")
    return reply


def _error_message(status: int, raw: bytes) -> str:
    try:
        payload = json.loads(raw)
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    except ValueError:
        pass
    return raw.decode("utf-8", "replace") or f"status {status}"


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTP(S)_PROXY, NO_PROXY), looked up once, not per request."""
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def backoff_s(attempt: int) -> float:
    """Exponential backoff with jitter, as the openai client does it."""
    return min(INITIAL_BACKOFF_S * 2**attempt, MAX_BACKOFF_S) * (1 - 0.25 * random.random())


@register_backend("openai")
class OpenAIModel(Model):
    def __init__(self, name: str, options: ModelOptions):
        super().__init__(name, options)
        urls = options.endpoints() or [os.environ.get("OPENAI_BASE_URL") or ""]
        base_url = urls[0]
        if not base_url:
            raise ValueError(f"openai:{name} needs a server: pass --base-url URL or write openai:{name}@URL")
        # The key is read from the environment and sent in a header only; it is never part of
        # a spec, a cache key, a log line or a report.
        # A role with no key variable (a judge on another host than the target's) sends none.
        api_key = (os.environ.get(options.api_key_env) if options.api_key_env else None) or "EMPTY"
        self._secrets = (api_key,)  # masked in every error this backend records
        self.base_url = base_url.rstrip("/")
        self.pool = EndpointPool(urls)  # one endpoint: never taken out (the backoff above applies)
        self._spread = len(self.pool) > 1
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                         "Accept": "application/json"}
        self._limit = asyncio.Semaphore(options.concurrency * len(self.pool))
        self._proxies = {e.url: env_proxy(e.url) for e in self.pool.endpoints}
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        """One session per event loop, with as many keep-alive connections as requests in flight."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session_loop is not loop or self._session.closed:
            # `total` is a deadline for each whole request: connect, send, and reading the full body
            # (a sock_read timeout alone lets a server that trickles a byte a second hold it forever).
            timeout = aiohttp.ClientTimeout(total=self.options.timeout_s, sock_connect=self.options.timeout_s)
            connector = aiohttp.TCPConnector(limit=self.options.concurrency * len(self.pool), ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)
            self._session_loop = loop
        return self._session

    async def generate(self, requests: list[GenerationRequest]) -> AsyncIterator[tuple[int, Completion]]:
        tasks = [asyncio.ensure_future(self._one(i, r)) for i, r in enumerate(requests)]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()

    async def _one(self, index: int, request: GenerationRequest) -> tuple[int, Completion]:
        async with self._limit:
            started = time.perf_counter()
            try:
                completion = await self._call(request)
            except Exception as error:  # noqa: BLE001 - any failure is recorded, never dropped
                completion = Completion(error=redact(f"{type(error).__name__}: {error}", self._secrets))
            completion.latency_s = time.perf_counter() - started
            return index, completion

    async def _call(self, request: GenerationRequest) -> Completion:
        params = request.params
        body: dict[str, Any] = {"model": self.name, "max_tokens": params.max_new_tokens, "temperature": params.temperature}
        if params.temperature > 0:
            body.update(top_p=params.top_p, seed=params.seed + request.sample_index)
        if request.raw_prompt is not None:
            reply = await self._post("/completions", {**body, "prompt": request.raw_prompt})
            choice = reply["choices"][0]
            text, reasoning_content = choice.get("text") or "", None
        else:
            messages = [m.model_dump() for m in request.messages]
            if request.chat_template_kwargs is not None:  # vLLM and SGLang read it; the DeepSeek API ignores it
                body["chat_template_kwargs"] = request.chat_template_kwargs
            reply = await self._post("/chat/completions", {**body, "messages": messages})
            choice = reply["choices"][0]
            message = choice.get("message") or {}
            text = message.get("content") or ""
            reasoning_content = _reasoning_field(message)
        split = split_reasoning(text, reasoning_content=reasoning_content, markers=self.options.markers)
        usage = reply.get("usage") or {}
        # A server's reasoning parser puts a thinking that never closed wholly in the reasoning field: cut off
        # at the length limit with no answer after it, it is truncated, as `hf:` and `vllm:` say.
        cut_off = bool(reasoning_content) and not split.answer.strip() and choice.get("finish_reason") == "length"
        return Completion(
            text=text,
            reasoning=split.reasoning,
            answer=split.answer,
            reasoning_truncated=split.truncated or cut_off,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with the retry policy; the parsed JSON reply, or an APIError."""
        data = json.dumps(body).encode()
        chat = path.endswith("/chat/completions")
        retries = self.options.max_retries
        for attempt in range(retries + 1):
            endpoint = await self._endpoint()
            endpoint_ok: bool | None = None  # what this attempt says about its endpoint
            try:
                reply = await self._attempt(endpoint.url + path, data, chat, self._proxies[endpoint.url])
                endpoint_ok = True
                return reply
            except APIStatusError as problem:
                error: APIError = problem
                retryable = problem.status in RETRY_STATUS or problem.status >= 500
                endpoint_ok = False if problem.status >= 500 else None
            except APIReplyError as problem:
                error, retryable = problem, True
            except asyncio.TimeoutError:
                error, retryable = APITimeoutError(f"no complete reply within {self.options.timeout_s:g} s"), True
            except aiohttp.ClientError as problem:
                error, retryable = APIConnectionError(f"{type(problem).__name__}: {problem}"), True
                endpoint_ok = False
            finally:
                self.pool.release(endpoint, endpoint_ok if self._spread else endpoint_ok or None)
            if not retryable or attempt == retries:
                raise error
            if self._spread and endpoint_ok is False:
                continue  # that endpoint is out now: the next attempt goes to another one (or waits for one)
            wait = getattr(error, "retry_after", None)
            await _sleep(wait if wait is not None else backoff_s(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _endpoint(self) -> Endpoint:
        """The endpoint for the next attempt, waiting while every endpoint is out for its cool-down."""
        while True:
            endpoint = self.pool.acquire()
            if endpoint is not None:
                return endpoint
            await _sleep(self.pool.wait_s())

    async def _attempt(self, url: str, data: bytes, chat: bool, proxy: str | None = None) -> dict[str, Any]:
        """One POST, read to the end: the checked reply, or APIStatusError / APIReplyError."""
        async with self._client().post(url, data=data, headers=self._headers, proxy=proxy) as response:
            raw = await response.read()
            if response.status < 300:
                return _checked_reply(raw, chat)
            # redacted before APIStatusError cuts the message short, which could split a key
            message = redact(_error_message(response.status, raw), self._secrets)
            raise APIStatusError(response.status, message, _retry_after(response.headers))

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
