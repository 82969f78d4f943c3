"""Several servers for one model: which endpoint a request goes to, and which are out for a cool-down.

Pure bookkeeping (no I/O, no event loop; the clock is injectable), used by the `openai:` backend.

- A request goes to the endpoint with the fewest requests in flight; ties go round-robin, so a
  quiet pool still spreads its requests.
- An endpoint whose attempt fails with a connection error or a 5xx is taken out for a cool-down:
  INITIAL_COOLDOWN_S, doubling with each further failure up to MAX_COOLDOWN_S. Failures reported
  while it is already out (the other requests that were in flight there) do not lengthen it.
- After its cool-down an endpoint is on probation: it gets one request at a time until one
  succeeds (then it is fully back and its cool-down resets), so a server that is still down costs
  one attempt per cool-down, not a burst.
- When every endpoint is out, `acquire` returns None and `wait_s` says how long until the
  earliest comes back.

An endpoint's URL never reaches a cache key: which endpoint served a request does not change
what is stored (`thinksafe.models.base.canonical_spec`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

INITIAL_COOLDOWN_S = 2.0
MAX_COOLDOWN_S = 60.0


def normalise_urls(urls: Iterable[str | None]) -> list[str]:
    """The endpoints in the order given, without a trailing slash, blanks and repeats dropped."""
    seen: dict[str, None] = {}
    for url in urls:
        url = (url or "").strip().rstrip("/")
        if url:
            seen.setdefault(url, None)
    return list(seen)


def read_urls_file(text: str) -> list[str]:
    """URLs from a --base-urls-file: one a line; blank lines and `#` comments (whole-line or trailing) skipped."""
    urls = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            urls.append(line)
    return urls


@dataclass
class Endpoint:
    url: str
    in_flight: int = 0
    failures: int = 0  # consecutive failures; 0 = healthy
    down_until: float = 0.0  # monotonic time the current cool-down ends
    served: int = 0  # attempts that succeeded (for notes and tests)
    failed: int = 0  # attempts that failed the endpoint


class EndpointPool:
    """Least-outstanding-requests choice over endpoints, with exponential cool-downs for failed ones."""

    def __init__(self, urls: Iterable[str], *, initial_cooldown_s: float | None = None,
                 max_cooldown_s: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.endpoints = [Endpoint(url) for url in normalise_urls(urls)]
        if not self.endpoints:
            raise ValueError("an endpoint pool needs at least one URL")
        # read at construction, so tests can shorten the module constants
        self.initial_cooldown_s = INITIAL_COOLDOWN_S if initial_cooldown_s is None else initial_cooldown_s
        self.max_cooldown_s = MAX_COOLDOWN_S if max_cooldown_s is None else max_cooldown_s
        self._clock = clock
        self._next = 0  # round-robin cursor for ties

    def __len__(self) -> int:
        return len(self.endpoints)

    def _available(self, endpoint: Endpoint, now: float) -> bool:
        if endpoint.failures == 0:
            return True
        return now >= endpoint.down_until and endpoint.in_flight == 0  # on probation: one request at a time

    def acquire(self) -> Endpoint | None:
        """The endpoint for the next attempt (its in-flight count taken), or None when all are out."""
        now = self._clock()
        count = len(self.endpoints)
        best: Endpoint | None = None
        best_at = 0
        for step in range(count):
            at = (self._next + step) % count
            endpoint = self.endpoints[at]
            if self._available(endpoint, now) and (best is None or endpoint.in_flight < best.in_flight):
                best, best_at = endpoint, at
        if best is None:
            return None
        self._next = (best_at + 1) % count
        best.in_flight += 1
        return best

    def release(self, endpoint: Endpoint, ok: bool | None) -> None:
        """An attempt on `endpoint` ended: True it worked, False the endpoint failed it (connection error, 5xx),
        None it says nothing about the endpoint (a 4xx, a timeout, a reply with no answer)."""
        endpoint.in_flight -= 1
        if ok:
            endpoint.served += 1
            endpoint.failures = 0
            endpoint.down_until = 0.0
        elif ok is False:
            endpoint.failed += 1
            now = self._clock()
            if endpoint.failures and now < endpoint.down_until:
                return  # already out: the requests that were in flight there fail too; one cool-down
            endpoint.failures += 1
            cooldown = min(self.initial_cooldown_s * 2 ** (endpoint.failures - 1), self.max_cooldown_s)
            endpoint.down_until = now + cooldown

    def wait_s(self) -> float:
        """Seconds until some endpoint can take a request (0 when one can now)."""
        now = self._clock()
        waits = []
        for endpoint in self.endpoints:
            if self._available(endpoint, now):
                return 0.0
            if endpoint.failures and endpoint.in_flight == 0:
                waits.append(endpoint.down_until - now)
        # every endpoint out is probing with a request in flight: look again shortly
        return max(min(waits), 0.0) if waits else min(self.initial_cooldown_s, 0.1)

    def up(self) -> list[str]:
        """URLs not out for a cool-down now."""
        now = self._clock()
        return [e.url for e in self.endpoints if e.failures == 0 or now >= e.down_until]
