"""What keeps one service usable by many clients: body size, concurrency, API keys.

Each is a small part the app installs:

- :class:`BodyLimit`, ASGI middleware: a declared ``Content-Length`` over the limit is
  answered 413 before a byte is read; a body sent without one (chunked) is counted as it
  arrives and refused as soon as it passes the limit, so a client cannot make the server
  buffer more than ``max_body`` bytes either way.
- :class:`ApiKeyCheck`, ASGI middleware: the key is checked before the body is read or
  parsed, so a client without it learns nothing (not even whether its JSON is valid)
  and costs nothing; compared with :func:`hmac.compare_digest` (constant time).
- :class:`ConcurrencyLimit`, taken by the ask endpoints: a slot without waiting, or the
  request is answered 429 with ``Retry-After`` (a queue would only hide overload until
  every client times out). An answer frees its slot when it is computed; a stream when
  its last event is sent.
"""

from __future__ import annotations

import hmac
import threading

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kgagent.serve.errors import ServeError, error_response

__all__ = ["ApiKeyCheck", "BodyLimit", "ConcurrencyLimit", "Slot", "presented_key"]


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_body`` bytes with 413."""

    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size < 0:
                await error_response(400, "Content-Length: not a whole number", "body")(
                    scope, receive, send
                )
                return
            if size > self.max_body:
                await self._too_large(size)(scope, receive, send)
                return
        await self.app(scope, self._counted(receive), send)

    def _too_large(self, size: int | None):
        got = f"{size:,} bytes" if size is not None else "more"
        return error_response(413, f"request body: {got}, more than the {self.max_body:,} allowed",
                              "body")  # fmt: skip

    def _counted(self, receive: Receive) -> Receive:
        """``receive`` that raises 413 (handled by the app: a JSON error) once the body
        read so far is over the limit, whatever the headers said."""
        total = 0
        limit = self.max_body

        async def counted() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > limit:
                    raise HTTPException(413, f"request body: more than the {limit:,} bytes allowed")
            return message

        return counted


def presented_key(headers: Headers) -> str | None:
    """The key a request presents: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


class ApiKeyCheck:
    """ASGI middleware: ``/v1/*`` and ``/metrics`` need the key (401 without it);
    ``/``, ``/static/*``, ``/healthz`` and the OpenAPI pages stay open (the page asks the
    user for the key and sends it)."""

    def __init__(self, app: ASGIApp, *, key: str) -> None:
        self.app = app
        self._key = key.encode("utf-8")

    @staticmethod
    def protects(path: str) -> bool:
        return path == "/metrics" or path == "/v1" or path.startswith("/v1/")

    def accepts(self, headers: Headers) -> bool:
        given = presented_key(headers)
        # bytes: compare_digest refuses non-ASCII str; both sides always compared whole
        return given is not None and hmac.compare_digest(given.encode("utf-8"), self._key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.protects(scope["path"]):
            headers = Headers(scope=scope)
            if not self.accepts(headers):
                missing = presented_key(headers) is None
                message = (
                    "no API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
                    if missing
                    else "wrong API key"
                )
                response = error_response(401, message, "authorization",
                                          {"WWW-Authenticate": "Bearer"})  # fmt: skip
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Slot:
    """One taken slot of a :class:`ConcurrencyLimit`; released once, however many times
    :meth:`release` is called (a stream releases it when it ends, and again, harmlessly,
    when its response is done: whichever comes first)."""

    def __init__(self, limit: ConcurrencyLimit) -> None:
        self._limit = limit
        self._held = True
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._limit.give_back()

    def __del__(self) -> None:
        # the last resort: a stream response dropped before it began (the client left at
        # once) runs neither its generator's ``finally`` nor its background task
        self.release()

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ConcurrencyLimit:
    """At most ``slots`` asks in flight; one more waits up to ``wait`` seconds for a slot
    and is then refused with 429.

    A short wait absorbs a burst (16 clients on 8 slots each wait a few tens of
    milliseconds) while sustained overload is still refused, not queued until every
    client times out. An ask holds its slot while it is computed (``with
    limit.acquire(): ...``), not while its response is sent: a client that sends its
    next question as soon as it has an answer finds its slot free. A stream holds its
    slot until its last event. Callers run in the threadpool, never on the event loop.
    """

    def __init__(self, slots: int, *, retry_after: int = 1, wait: float = 0.0) -> None:
        self.slots = int(slots)
        self.retry_after = int(retry_after)
        self.wait = float(wait)
        self._lock = threading.Condition()
        self._busy = 0

    @property
    def busy(self) -> int:
        """Slots taken now."""
        return self._busy

    def acquire(self) -> Slot:
        """A slot, or :class:`ServeError` 429 (with ``Retry-After``) when none frees up
        within ``wait`` seconds."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._busy < self.slots, timeout=self.wait):
                raise ServeError(
                    f"busy: {self.slots} asks in flight, the most this service takes; "
                    f"retry after {self.retry_after} s",
                    status=429,
                    headers={"Retry-After": str(self.retry_after)},
                )
            self._busy += 1
        return Slot(self)

    def give_back(self) -> None:
        """Frees one slot (called by :meth:`Slot.release`, once per slot)."""
        with self._lock:
            self._busy -= 1
            self._lock.notify()
