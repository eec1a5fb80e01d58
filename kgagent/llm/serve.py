"""A small OpenAI-compatible chat server in front of any kgagent :class:`~kgagent.llm.base.LLM`.

It exists so the HTTP backend (:class:`~kgagent.llm.openai.OpenAIChatLM`) can be tested
against a real server, and so one local model can be shared by several processes. It is
deliberately minimal: the standard library's ``ThreadingHTTPServer``, no streaming, one
choice per request, and model calls serialized (one model, one forward pass at a time).

Limitation: log-probabilities are served only for single-token replies, and only over
``CHOICES`` ("0" ... "9", "yes", "no"). A request with ``logprobs: true`` and
``max_tokens: 1`` is answered by ``llm.choose([messages], CHOICES)``: the reply's token is
the best choice and ``top_logprobs`` are the choices' log-probabilities (normalized over
them, not over the vocabulary). That is exactly what kgagent's reader asks (yes / no, or
single-digit options); a client wanting first-token log-probabilities over a general
vocabulary gets wrong numbers.
Every other request is plain greedy generation.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from kgagent.llm.base import LLM, Message

__all__ = ["CHOICES", "DIGITS", "OpenAIServer"]

log = logging.getLogger(__name__)

DIGITS = tuple(str(d) for d in range(10))
#: the single-token replies kgagent's readers score: option digits and yes / no
CHOICES = (*DIGITS, "yes", "no")
MAX_BODY = 16 * 1024 * 1024  # bytes; a chat request is far smaller
DEFAULT_MAX_TOKENS = 256
_FLOOR = -9999.0  # log-probability sent for "impossible"


class _BadRequest(Exception):
    """Internal: a client error answered with an OpenAI-style error body."""

    def __init__(
        self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST, kind: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind or "invalid_request_error"


class OpenAIServer:
    """Serves an LLM over the OpenAI chat-completions API on a background thread.

    Endpoints: ``GET /v1/models`` and ``POST /v1/chat/completions``. Use as a context
    manager (``with OpenAIServer(llm) as url: ...``) or call :meth:`start` / :meth:`stop`.

    Args:
        llm: the model answering requests.
        host: the interface to bind; loopback by default, because the server has no
            rate limiting and (without ``api_key``) no authentication.
        port: the TCP port; 0 picks a free one (read it from :attr:`url` after start).
        model_name: the id listed by ``/v1/models`` and echoed in replies; ``llm.name``
            if None. The ``model`` field of requests is not checked.
        api_key: if given, requests must carry ``Authorization: Bearer <api_key>``
            (else 401), as the OpenAI API and vLLM's ``--api-key`` do.
    """

    def __init__(
        self,
        llm: LLM,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model_name: str | None = None,
        api_key: str | None = None,
    ) -> None:
        self.llm = llm
        self.host = host
        self.port = int(port)
        self.model_name = model_name or str(llm.name)
        self.api_key = api_key
        self._llm_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The API root clients use as ``base_url`` (ends in /v1); only while running."""
        if self._httpd is None:
            raise RuntimeError("OpenAIServer is not running: call start() first")
        host, port = self._httpd.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else str(host)
        return f"http://{host}:{port}/v1"

    def start(self) -> str:
        """Binds, serves on a daemon thread, and returns the URL (ending in /v1)."""
        if self._httpd is not None:
            return self.url
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_class = type("_Server", (ThreadingHTTPServer,), {"address_family": family})
        httpd = server_class((self.host, self.port), _Handler)
        httpd.daemon_threads = True
        httpd.app = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},  # stop() returns within 0.1 s
            name=f"openai-server:{httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        log.debug("serving %s at %s", self.model_name, self.url)
        return self.url

    def stop(self) -> None:
        """Stops serving and closes the socket (idempotent)."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "stopped"
        return f"OpenAIServer({self.model_name!r}, {where})"

    # -- request handling (called from handler threads) ---------------------------------

    def models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": self.model_name, "object": "model", "created": 0, "owned_by": "kgagent"}
            ],
        }

    def complete(self, request: Any) -> dict[str, Any]:
        """The chat-completion reply to a decoded request body (raises _BadRequest)."""
        if not isinstance(request, dict):
            raise _BadRequest("request body must be a JSON object")
        messages = _parse_messages(request.get("messages"))
        if request.get("stream"):
            raise _BadRequest("stream: true is not supported by this server")
        n = request.get("n", 1)
        if n not in (None, 1):
            raise _BadRequest("only n = 1 is supported")
        max_tokens = request.get("max_completion_tokens", request.get("max_tokens"))
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise _BadRequest("max_tokens must be a positive integer")
        top_n = request.get("top_logprobs")
        if top_n is not None and (
            isinstance(top_n, bool) or not isinstance(top_n, int) or not 0 <= top_n <= 20
        ):
            raise _BadRequest("top_logprobs must be an integer from 0 to 20")

        logprobs = None
        if request.get("logprobs") and max_tokens == 1:
            with self._llm_lock:
                row = np.asarray(self.llm.choose([messages], list(CHOICES)), dtype=np.float64)[0]
            # -inf (a one-hot row) is not valid JSON: a very low finite value says the same
            row = np.nan_to_num(row, nan=_FLOOR, neginf=_FLOOR, posinf=0.0)
            order = np.argsort(-row, kind="stable")
            content = CHOICES[int(order[0])]
            top = [_token(CHOICES[int(i)], float(row[i])) for i in order[: top_n or 0]]
            logprobs = {"content": [{**_token(content, float(row[order[0]])), "top_logprobs": top}]}
            finish = "length"
        else:
            limit = max_tokens or DEFAULT_MAX_TOKENS
            with self._llm_lock:
                content = str(self.llm.generate([messages], max_new_tokens=limit)[0])
            finish = "stop"
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "logprobs": logprobs,
                    "finish_reason": finish,
                }
            ],
        }


def _token(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def _parse_messages(raw: Any) -> list[Message]:
    """OpenAI messages as kgagent ``Message``s (text parts of list contents are joined)."""
    if not isinstance(raw, list) or not raw:
        raise _BadRequest("messages: expected a non-empty list of {role, content} objects")
    out: list[Message] = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise _BadRequest(f"messages[{i}]: expected an object with a string role")
        content = m.get("content")
        if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
            parts = [p.get("text") for p in content if isinstance(p, dict)]
            if not all(isinstance(p, str) for p in parts):
                raise _BadRequest(f"messages[{i}].content: only text parts are supported")
            content = "".join(parts)
        elif content is None:
            content = ""
        if not isinstance(content, str):
            raise _BadRequest(f"messages[{i}].content: expected a string")
        out.append(Message(role=m["role"], content=content))
    return out


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the :class:`OpenAIServer` stored on the HTTP server."""

    protocol_version = "HTTP/1.1"  # keep-alive for clients that reuse connections
    server_version = "kgagent-openai"

    @property
    def app(self) -> OpenAIServer:
        return self.server.app  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            body = self._read_body() if method == "POST" else b""
            self._authorize()
            if path == "/v1/models" and method == "GET":
                self._send_json(HTTPStatus.OK, self.app.models())
            elif path == "/v1/chat/completions" and method == "POST":
                try:
                    request = json.loads(body)
                except ValueError as exc:
                    raise _BadRequest(f"request body is not valid JSON ({exc})") from exc
                self._send_json(HTTPStatus.OK, self.app.complete(request))
            elif path in ("/v1/models", "/v1/chat/completions"):
                raise _BadRequest(f"{method} not allowed on {path}", HTTPStatus.METHOD_NOT_ALLOWED)
            else:
                raise _BadRequest(f"unknown path {path or '/'}", HTTPStatus.NOT_FOUND, "not_found")
        except _BadRequest as exc:
            self._send_error(exc.status, str(exc), exc.kind)
        except Exception as exc:  # the model failed: tell the client, keep serving
            log.exception("request %s %s failed", method, path)
            self._send_error(
                HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}", "server_error"
            )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise _BadRequest("chunked request bodies are not supported: send Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise _BadRequest("invalid Content-Length") from None
        if length > MAX_BODY:
            self.close_connection = True
            raise _BadRequest(
                f"request body over {MAX_BODY} bytes", HTTPStatus.REQUEST_ENTITY_TOO_LARGE
            )
        return self.rfile.read(length) if length > 0 else b""

    def _authorize(self) -> None:
        key = self.app.api_key
        if key and self.headers.get("Authorization", "") != f"Bearer {key}":
            raise _BadRequest(
                "missing or wrong API key (Authorization: Bearer ...)",
                HTTPStatus.UNAUTHORIZED,
                "authentication_error",
            )

    def _send_json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: HTTPStatus, message: str, kind: str) -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "code": int(status)}})
