"""Every error the service sends, in the one JSON shape of the contract.

``{"error": {"status": 404, "message": "...", "field": "id"}}`` with that HTTP status,
whatever failed: a malformed body (422, naming the field from pydantic's ``loc``), a
:class:`~kgagent.errors.KGAgentError` the agent raised (400 unless its type maps to a
server-side status), a route or method that does not exist (Starlette's
``HTTPException``), or a bug (500). A client never sees an HTML page or a traceback: the
traceback of an unexpected error goes to the server's log only, and its message is one
line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from kgagent.errors import (
    EncoderError,
    IndexLoadError,
    IndexMismatchError,
    KGAgentError,
    LLMError,
    StoreError,
)

__all__ = [
    "ServeError",
    "client_message",
    "error_body",
    "error_response",
    "field_of",
    "install_error_handlers",
    "status_of",
]

log = logging.getLogger("kgagent.serve")

#: kgagent errors that are the server's problem, not the request's (default: 400)
SERVER_SIDE: dict[type[KGAgentError], int] = {
    LLMError: 502,  # the LLM server behind the agent failed
    StoreError: 503,  # the store could not be read
    IndexLoadError: 503,
    IndexMismatchError: 503,
    EncoderError: 503,
}

#: what the message of a status says when nothing more specific is known
_REASONS = {
    400: "bad request",
    401: "unauthorized",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
    422: "malformed request",
    429: "too many requests",
    500: "internal server error",
}

#: a message that starts by naming a field: "questions[3]: ...", "bindings['x']: ..."
_LEADING_FIELD = re.compile(r"^([A-Za-z_]\w*(?:\[[^\]\s]{1,40}\]|\.[A-Za-z_]\w*)*):\s")


class ServeError(KGAgentError):
    """A request the service refuses, with the HTTP status and the field it is about.

    Attributes:
        status: the HTTP status (404 unknown conversation, 429 full, ...).
        field: the request field at fault, or None.
        headers: extra response headers (``Retry-After`` for a 429).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.field = field
        self.headers = dict(headers or {})
        super().__init__(message)


def one_line(text: str, limit: int = 500) -> str:
    """``text`` as one line of at most ``limit`` characters (a message, never a dump)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_body(status: int, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"status": status, "message": one_line(message), "field": field}}


def error_response(
    status: int,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The contract's error as a response (also used by middleware, outside the app's
    exception handlers)."""
    return JSONResponse(error_body(status, message, field), status_code=status, headers=headers)


def status_of(exc: KGAgentError) -> int:
    """The HTTP status of a kgagent error: its own (:class:`ServeError`), a server-side
    one for the types in :data:`SERVER_SIDE`, else 400 (the request asked for it)."""
    if isinstance(exc, ServeError):
        return exc.status
    for kind, status in SERVER_SIDE.items():
        if isinstance(exc, kind):
            return status
    return 400


def field_of(exc: KGAgentError) -> str | None:
    """The field a kgagent error is about: its own, else the name its message starts
    with (kgagent messages name the field first: ``"questions[3]: 1,200 characters..."``)."""
    if isinstance(exc, ServeError):
        return exc.field
    found = _LEADING_FIELD.match(str(exc))
    return found.group(1) if found else None


def loc_field(loc: Sequence[Any]) -> str | None:
    """A pydantic error location as a field path: ``("body", "questions", 3)`` ->
    ``"questions[3]"``; the body itself (not JSON, missing) -> ``"body"``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        source, parts = parts[0], parts[1:]
        if source == "body" and (not parts or isinstance(parts[0], int)):
            return "body"  # the body as a whole: missing, or not JSON (loc: position)
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


#: FastAPI's detail for a body its JSON parser gave up on (not UTF-8, nested too deeply)
_UNPARSED = "There was an error parsing the body"


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = loc_field(first.get("loc", ()))
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "json_invalid":
        message = "the body is not valid JSON"
    elif field == "body" and "json" not in request.headers.get("content-type", ""):
        message += " (send the body as JSON, with Content-Type: application/json)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error_response(422, f"{field or 'request'}: {message}{more}", field)


def _http(request: Request, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 400 and detail == _UNPARSED:  # a malformed body, as any other
        message = "body: not JSON that can be read (not UTF-8, or nested too deeply)"
        return error_response(422, message, "body")
    reason = _REASONS.get(exc.status_code, "error")
    message = detail if detail and detail.lower() != reason else reason
    if exc.status_code == 404 and detail in (None, "Not Found"):
        message = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    return error_response(exc.status_code, message, None, exc.headers)


def client_message(exc: KGAgentError, status: int) -> str:
    """What a client is told of a kgagent error: the message, which names what to fix;
    for a server-side one (5xx), only its kind (the message may name internal URLs or
    paths; it goes to the server's log)."""
    if status < 500:
        return str(exc)
    return f"{type(exc).__name__}: the service could not answer; see the server log"


def _kgagent(request: Request, exc: KGAgentError) -> JSONResponse:
    status = status_of(exc)
    if status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, one_line(str(exc)))
    headers = exc.headers if isinstance(exc, ServeError) else None
    return error_response(status, client_message(exc, status), field_of(exc), headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error ({type(exc).__name__}); see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Routes every exception through the one error shape (see the module docstring)."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(KGAgentError, _kgagent)
    app.add_exception_handler(Exception, _unexpected)
