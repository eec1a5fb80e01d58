"""The connection-level limits of :class:`~kgagent.llm.serve.OpenAIServer` on uvicorn.

uvicorn bounds an idle keep-alive connection but not a request on its way in: a client
sending its headers one byte a second, or announcing a body it never sends, holds a
connection for as long as it likes; a connection over uvicorn's ``limit_concurrency`` is
refused only once its request has arrived, in plain text; and a reply sent before the
body was read (a wrong API key, a body over the limit) is followed by a close that
resets the connection under a client still uploading, so the client never reads the
refusal. :class:`LimitedH11Protocol` is uvicorn's h11 protocol with those three closed
(uvicorn takes a protocol class as ``Config(http=...)``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any

import h11
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BadRequest", "LimitedH11Protocol", "error_response"]

log = logging.getLogger("kgagent.llm.serve")

LINGER = 1.0  # seconds a refused upload is read and discarded before the close
#: the states in which the client's next request, or the rest of this one, is on its way
_RECEIVING = (h11.IDLE, h11.SEND_BODY)


class BadRequest(Exception):
    """A client error answered with an OpenAI-style error body."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST, kind: str = "") -> None:
        super().__init__(message)
        self.status = int(status)
        self.kind = kind or "invalid_request_error"

    def body(self) -> dict[str, Any]:
        """OpenAI's error shape: ``{"error": {"message", "type", "code"}}``."""
        return {"error": {"message": str(self), "type": self.kind, "code": self.status}}


def error_response(exc: BadRequest, *, close: bool = False) -> JSONResponse:
    """The reply to ``exc``; ``close`` where the request's body was not read, so the
    connection cannot carry another request."""
    headers = {"Connection": "close"} if close else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _raw_reply(exc: BadRequest) -> bytes:
    """``exc`` as the bytes of a whole HTTP/1.1 reply, for a connection no request was
    read from."""
    data = json.dumps(exc.body()).encode()
    head = f"HTTP/1.1 {exc.status} {HTTPStatus(exc.status).phrase}\r\n"
    head += "Content-Type: application/json\r\nConnection: close\r\n"
    head += f"Content-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


class LimitedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with the limits a slow or greedy client would get
    around otherwise (a subclass sets the two class attributes per server):

    - at most ``max_connections`` connections: the next one is answered 503 as it
      arrives, before it sends anything;
    - one deadline per request: its headers and body must arrive within
      ``read_timeout`` seconds of its start (a byte a second does not extend it), and an
      idle keep-alive connection closes after as long; the connection is dropped
      without a reply;
    - a lingering close (Apache's): a connection closed while the client is still
      sending a body stops sending, reads and discards for up to ``LINGER`` seconds,
      then closes, so that the client reads the refusal rather than a reset;
    - a client that leaves mid-request is one log line, never a traceback.
    """

    read_timeout: float = 30.0
    max_connections: int = 32

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        self._deadline: asyncio.TimerHandle | None = None
        self.lingering = False  # a refusal sent, the rest of the upload being discarded
        self._closed_here = False
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        if len(self.connections) > self.max_connections:
            log.warning("%s: refused, %d connections open", self._who(), self.max_connections)
            busy = BadRequest("too many connections; retry later", 503, "server_busy")
            self._closed_here = True
            transport.write(_raw_reply(busy))
            transport.close()
            return
        self._watch()

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # the reply is sent and the connection closing: discarded
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # the next request on the connection gets a deadline of its own
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        mid_request = self.cycle is not None and not self.cycle.response_complete
        if not (self._closed_here or self.lingering) and (exc is not None or mid_request):
            why = type(exc).__name__ if exc is not None else "closed before the reply"
            log.info("%s: client went away (%s)", self._who(), why)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """Server stop: the connection closes now, a request in flight with it."""
        self._closed_here = True
        self._raw.close()

    def close_lingering(self) -> None:
        """How uvicorn's closes of this connection end: at once, unless the client is
        still sending a body nobody will read (a refusal sent before reading it)."""
        raw = self._raw
        if self.lingering or raw.is_closing():
            return
        if self.conn.their_state is not h11.SEND_BODY or not raw.can_write_eof():
            raw.close()
            return
        self.lingering = True
        self._disarm()
        raw.write_eof()  # after the reply: the client sees the reply, then the end
        raw.resume_reading()  # flow control may have paused it; what comes is discarded
        self._deadline = self.loop.call_later(min(LINGER, self.read_timeout), raw.close)

    def _watch(self) -> None:
        """Arms the deadline while a request is on its way (once: later bytes do not
        extend it) and disarms it once the request has arrived whole."""
        if self._raw.is_closing() or self.conn.their_state not in _RECEIVING:
            self._disarm()
        elif self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout, self._stalled)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _stalled(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
            log.debug("%s: idle keep-alive connection closed", self._who())
        else:
            log.info(
                "%s: client stalled: request not received within %g s; connection closed",
                self._who(),
                self.read_timeout,
            )
        self._closed_here = True
        self._raw.close()

    def _who(self) -> str:
        return str(self.client[0]) if self.client else "client"


class _LingeringTransport:
    """The connection's transport as uvicorn sees it: everything passes through, except
    that ``close()`` is :meth:`LimitedH11Protocol.close_lingering` and the connection
    reads as closing while it lingers."""

    def __init__(self, raw: asyncio.Transport, protocol: LimitedH11Protocol) -> None:
        self._raw, self._protocol = raw, protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def close(self) -> None:
        self._protocol.close_lingering()

    def is_closing(self) -> bool:
        return self._raw.is_closing() or self._protocol.lingering
