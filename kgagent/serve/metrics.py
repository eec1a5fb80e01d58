"""Request counts, latency histograms and in-flight requests, in Prometheus text format.

Written by hand (the format is a few lines of text; a client library would be one more
dependency for it). Requests are labelled by *route template*
(``/v1/conversations/{cid}/turns``), never by the raw path: a label per conversation id
would grow without bound and let any client exhaust the server's memory. A path no
route matches is labelled ``unmatched``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BUCKETS", "Metrics", "MetricsMiddleware"]

#: histogram bucket bounds in seconds: a cached lookup (ms) up to a long LLM batch
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: methods kept as labels; any other is counted as "OTHER" (the label space stays fixed)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _label(value: str) -> str:
    """A label value escaped as the text format wants (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(x: float) -> str:
    if math.isinf(x):
        return "+Inf"
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


class Metrics:
    """The counters of one service (thread-safe: handlers run in a thread pool)."""

    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = {}
        # endpoint -> [count per bucket (non-cumulative) + overflow, sum, count]
        self._latency: dict[str, list] = {}
        self.in_flight = 0

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def finished(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "OTHER"
        with self._lock:
            self.in_flight -= 1
            key = (endpoint, method, int(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            hist = self._latency.setdefault(endpoint, [[0] * (len(self.buckets) + 1), 0.0, 0])
            i = next((k for k, b in enumerate(self.buckets) if seconds <= b), len(self.buckets))
            hist[0][i] += 1
            hist[1] += seconds
            hist[2] += 1

    def count(self, endpoint: str, method: str = "", status: int | None = None) -> int:
        """Requests counted for ``endpoint`` (any method / status unless given)."""
        with self._lock:
            return sum(n for (e, m, s), n in self._requests.items()
                       if e == endpoint and (not method or m == method)
                       and (status is None or s == status))  # fmt: skip

    def render(self, gauges: Mapping[str, tuple[str, float]] | None = None) -> str:
        """The text exposition: the counters, the histograms, ``kgagent_in_flight`` and
        ``gauges`` (name -> (help, value), e.g. the conversations kept)."""
        with self._lock:
            requests = sorted(self._requests.items())
            latency = {e: (list(h[0]), h[1], h[2]) for e, h in sorted(self._latency.items())}
            in_flight = self.in_flight
        out = [
            "# HELP kgagent_requests_total HTTP requests answered, by route template, "
            "method and status.",
            "# TYPE kgagent_requests_total counter",
        ]
        for (endpoint, method, status), n in requests:
            out.append(f'kgagent_requests_total{{endpoint="{_label(endpoint)}",'
                       f'method="{method}",status="{status}"}} {n}')  # fmt: skip
        out += [
            "# HELP kgagent_request_seconds Time to answer a request (a stream: to its "
            "last event), by route template.",
            "# TYPE kgagent_request_seconds histogram",
        ]
        for endpoint, (counts, total, n) in latency.items():
            e = _label(endpoint)
            running = 0
            for bound, c in zip((*self.buckets, math.inf), counts, strict=True):
                running += c
                out.append(f'kgagent_request_seconds_bucket{{endpoint="{e}",'
                           f'le="{_number(bound)}"}} {running}')  # fmt: skip
            out.append(f'kgagent_request_seconds_sum{{endpoint="{e}"}} {total:.6f}')
            out.append(f'kgagent_request_seconds_count{{endpoint="{e}"}} {n}')
        out += [
            "# HELP kgagent_in_flight HTTP requests being answered now.",
            "# TYPE kgagent_in_flight gauge",
            f"kgagent_in_flight {in_flight}",
        ]
        for name, (help_text, value) in (gauges or {}).items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge",
                    f"{name} {_number(value)}"]  # fmt: skip
        return "\n".join(out) + "\n"


def route_template(scope: Scope, path: str, mounts: tuple[str, ...] = ()) -> str:
    """The path template of the route that took the request (after routing), the mount
    ``path`` falls under (``/static/{path}``: FastAPI names no route for a mount), else
    ``unmatched``."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str) and template:
        return template
    for prefix in mounts:
        if path.startswith(prefix + "/"):
            return prefix + "/{path}"
    return "unmatched"


class MetricsMiddleware:
    """ASGI middleware recording every HTTP request in :class:`Metrics` (outermost, so
    refusals by the other middleware are counted too)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        mounts: tuple[str, ...] = (),
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.mounts = mounts
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what a client sees if the app fails before it answers

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        path = scope["path"]  # before routing: a mount may rewrite the scope
        t0 = self.clock()
        self.metrics.started()
        try:
            await self.app(scope, receive, send_status)
        finally:
            endpoint = route_template(scope, path, self.mounts)
            self.metrics.finished(endpoint, scope["method"], status, self.clock() - t0)
