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

Limits (each a constructor argument): a request must arrive whole within
``read_timeout`` seconds (headers and body; a stalled upload is dropped, not held); the
API key is checked before the body is read; bodies over ``max_body`` bytes get 413;
JSON nested deeper than ``MAX_DEPTH`` levels or holding a lone surrogate gets 400;
prompts over ``max_prompt_chars`` characters and ``max_tokens`` over its cap get 400, so
one request cannot hold the model for long; a request that waits more than
``queue_timeout`` seconds for the model gets 503; at most ``max_connections`` are
served at once (others get 503 straight away). A client that disconnects costs one log
line, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
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
MAX_BODY = 1024 * 1024  # bytes: a prompt at the default cap, JSON-escaped, fits 6 times
MAX_DEPTH = 32  # JSON nesting levels (a chat request uses 4)
MAX_PROMPT_CHARS = 65_536  # kgagent's reader prompts are a few thousand
MAX_TOKENS = 1024  # the largest max_tokens a request may ask for
DEFAULT_MAX_TOKENS = 256
_FLOOR = -9999.0  # log-probability sent for "impossible"
#: a client that went away or stalled: one log line, no traceback
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


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
            (else 401, answered before the body is read), as the OpenAI API and vLLM's
            ``--api-key`` do.
        read_timeout: seconds a request (headers and body) may take to arrive, and an
            idle keep-alive connection stays open.
        max_body: the largest request body in bytes (else 413).
        max_prompt_chars: the most characters of message content per request (else 400):
            the model's work grows with the prompt, and it serves one request at a time.
        max_tokens: the largest ``max_tokens`` a request may ask for (else 400).
        queue_timeout: seconds a request waits for the model before a 503.
        max_connections: connections served at once; more get 503 at once.
    """

    def __init__(
        self,
        llm: LLM,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model_name: str | None = None,
        api_key: str | None = None,
        read_timeout: float = 30.0,
        max_body: int = MAX_BODY,
        max_prompt_chars: int = MAX_PROMPT_CHARS,
        max_tokens: int = MAX_TOKENS,
        queue_timeout: float = 120.0,
        max_connections: int = 32,
    ) -> None:
        self.llm = llm
        self.host = host
        self.port = int(port)
        self.model_name = model_name or str(llm.name)
        self.api_key = api_key
        self.read_timeout, self.queue_timeout = float(read_timeout), float(queue_timeout)
        self.max_body, self.max_prompt_chars = int(max_body), int(max_prompt_chars)
        self.max_tokens, self.max_connections = int(max_tokens), int(max_connections)
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
        server_class = type("_Server", (_Server,), {"address_family": family})
        httpd = server_class((self.host, self.port), _Handler)
        httpd.app = self  # type: ignore[attr-defined]
        httpd.slots = threading.BoundedSemaphore(self.max_connections)  # type: ignore[attr-defined]
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
        size = sum(len(m["content"]) for m in messages)
        if size > self.max_prompt_chars:
            raise _BadRequest(
                f"messages: {size:,} characters, over this server's limit of "
                f"{self.max_prompt_chars:,} (max_prompt_chars)"
            )
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
        if max_tokens is not None and max_tokens > self.max_tokens:
            raise _BadRequest(
                f"max_tokens {max_tokens} is over this server's limit of {self.max_tokens}"
            )
        top_n = request.get("top_logprobs")
        if top_n is not None and (
            isinstance(top_n, bool) or not isinstance(top_n, int) or not 0 <= top_n <= 20
        ):
            raise _BadRequest("top_logprobs must be an integer from 0 to 20")

        logprobs = None
        if request.get("logprobs") and max_tokens == 1:
            with self._model():
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
            with self._model():
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

    @contextlib.contextmanager
    def _model(self) -> Iterator[None]:
        """The model, one request at a time (held for the model call only: parsing and
        replying run outside); waiting longer than ``queue_timeout`` is a 503."""
        if not self._llm_lock.acquire(timeout=self.queue_timeout):
            raise _BadRequest(
                f"the model is busy (waited {self.queue_timeout:g} s); retry later",
                HTTPStatus.SERVICE_UNAVAILABLE,
                "server_busy",
            )
        try:
            yield
        finally:
            self._llm_lock.release()


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


def _decode(body: bytes) -> Any:
    """The request body as JSON, refused (400) unless UTF-8, valid, at most
    ``MAX_DEPTH`` levels deep and free of lone surrogates (``"\\ud800"`` decodes to a str
    that no tokenizer, and no UTF-8 reply, can encode)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadRequest(f"request body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        request = json.loads(text)
    except RecursionError:
        raise _BadRequest(f"request body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise _BadRequest(f"request body is not valid JSON ({exc})") from exc
    todo: list[tuple[Any, str, int]] = [(request, "body", 1)]  # (value, where, depth)
    while todo:
        value, where, depth = todo.pop()
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, dict | list) and depth > MAX_DEPTH:
            raise _BadRequest(f"request body nests deeper than {MAX_DEPTH} levels")
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"a key of {where}")
                todo.append((item, f"{where}.{key}", depth + 1))
        elif isinstance(value, list):
            todo.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
    return request


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise _BadRequest(
            f"{where}: a lone surrogate (U+{code:04X}) at character {exc.start} is not text"
        ) from None


class _Server(ThreadingHTTPServer):
    """A threading server that serves at most ``slots`` connections at once and logs a
    vanished client as one line rather than printing a traceback."""

    daemon_threads = True
    app: OpenAIServer
    slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            log.warning(
                "%s: refused, %d connections open", client_address[0], self.app.max_connections
            )
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, _GONE):
            log.info("%s: client went away (%s)", client_address[0], type(exc).__name__)
        else:
            log.error("%s: request failed", client_address[0], exc_info=True)


def _refuse_busy(request: socket.socket) -> None:
    """A 503 written straight to a connection over the limit (without a handler thread)."""
    data = _error_body("too many connections; retry later", "server_busy", 503)
    head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    with contextlib.suppress(OSError):
        request.settimeout(0.5)
        request.sendall(head.encode() + data)


def _error_body(message: str, kind: str, status: int) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode()


class _DeadlineReader(io.RawIOBase):
    """The connection's reading side with one deadline per request: a client trickling
    one byte at a time cannot keep a request open past ``read_timeout`` (a per-``recv``
    timeout alone would be reset by every byte)."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock = sock
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"request not received within {self.timeout:g} s")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the :class:`OpenAIServer` stored on the HTTP server."""

    protocol_version = "HTTP/1.1"  # keep-alive for clients that reuse connections
    server_version = "kgagent-openai"
    server: _Server

    @property
    def app(self) -> OpenAIServer:
        return self.server.app

    def setup(self) -> None:
        self.timeout = self.app.read_timeout  # for writes; reads follow the deadline
        super().setup()
        self._reader = _DeadlineReader(self.connection, self.app.read_timeout)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.deadline = time.monotonic() + self.app.read_timeout
        try:
            super().handle_one_request()
        except _GONE as exc:  # the request line or headers never came, or the client left
            self.close_connection = True
            log.info("%s: client went away or stalled (%s)", self.address_string(), exc)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def handle_expect_100(self) -> bool:
        """``Expect: 100-continue``: a wrong key or an oversized body is refused before
        the client is told to send it."""
        try:
            self._authorize()
            self._length()
        except _BadRequest as exc:
            self.close_connection = True
            self._reply_error(exc)
            return False
        return super().handle_expect_100()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            try:
                self._authorize()  # before the body: a wrong key costs no upload
                body = self._read_body() if method == "POST" else b""
            except _BadRequest as exc:
                self.close_connection = True  # the body was not read: no keep-alive
                self._reply_error(exc)
                self._linger()
                return
            if path == "/v1/models" and method == "GET":
                self._send_json(HTTPStatus.OK, self.app.models())
            elif path == "/v1/chat/completions" and method == "POST":
                self._send_json(HTTPStatus.OK, self.app.complete(_decode(body)))
            elif path in ("/v1/models", "/v1/chat/completions"):
                raise _BadRequest(f"{method} not allowed on {path}", HTTPStatus.METHOD_NOT_ALLOWED)
            else:
                raise _BadRequest(f"unknown path {path or '/'}", HTTPStatus.NOT_FOUND, "not_found")
        except _BadRequest as exc:
            self._reply_error(exc)
        except _GONE as exc:
            self.close_connection = True
            log.info("%s: client went away or stalled (%s)", self.address_string(), exc)
        except Exception as exc:  # the model failed: tell the client, keep serving
            log.exception("request %s %s failed", method, path)
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            self._reply_error(_BadRequest(f"{type(exc).__name__}: {exc}", status, "server_error"))

    def _linger(self) -> None:
        """After refusing a request whose body was not read: stop sending, then discard
        what the client is still uploading for up to a second, so that it reads the
        refusal rather than a reset connection (Apache's "lingering close")."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            end = time.monotonic() + min(1.0, self.app.read_timeout)
            while (left := end - time.monotonic()) > 0:
                self.connection.settimeout(left)
                if not self.connection.recv(1 << 16):
                    break

    def _length(self) -> int:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise _BadRequest("chunked request bodies are not supported: send Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            raise _BadRequest("invalid Content-Length") from None
        if length > self.app.max_body:
            raise _BadRequest(
                f"request body of {length:,} bytes is over this server's limit of "
                f"{self.app.max_body:,}",
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        return length

    def _read_body(self) -> bytes:
        length = self._length()
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:
            raise ConnectionResetError(f"client closed after {len(body)} of {length} bytes")
        return body

    def _authorize(self) -> None:
        key = self.app.api_key
        if key and self.headers.get("Authorization", "") != f"Bearer {key}":
            raise _BadRequest(
                "missing or wrong API key (Authorization: Bearer ...)",
                HTTPStatus.UNAUTHORIZED,
                "authentication_error",
            )

    def _send_json(self, status: HTTPStatus, payload: dict[str, Any] | bytes) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        self.connection.settimeout(self.app.read_timeout)  # a reply to a slow reader ends too
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _reply_error(self, exc: _BadRequest) -> None:
        """An OpenAI-style error reply; a client already gone is logged, not raised."""
        try:
            self._send_json(exc.status, _error_body(str(exc), exc.kind, int(exc.status)))
        except _GONE as gone:
            self.close_connection = True
            log.info("%s: client went away (%s)", self.address_string(), gone)
