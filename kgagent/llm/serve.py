"""A small OpenAI-compatible chat server in front of any kgagent :class:`~kgagent.llm.base.LLM`.

It exists so the HTTP backend (:class:`~kgagent.llm.openai.OpenAIChatLM`) can be tested
against a real server, and so one local model can be shared by several processes. It runs
on the same stack as ``kgagent serve`` (FastAPI on uvicorn, in a background thread), and
stays deliberately minimal: no streaming, one choice per request, and model calls
serialized (one model, one forward pass at a time).

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
served at once (others get 503 straight away). Every error is an OpenAI-style JSON body
(``{"error": {"message", "type", "code"}}``); a client that disconnects costs one log
line, never a traceback. The connection-level limits live in
:mod:`kgagent.llm.serve_protocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import numpy as np
import uvicorn
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from kgagent.llm.base import LLM, Message
from kgagent.llm.serve_protocol import BadRequest, LimitedH11Protocol, error_response

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
_START_TIMEOUT = 10.0  # seconds start() waits for uvicorn to listen


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
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The API root clients use as ``base_url`` (ends in /v1); only while running."""
        if self._socket is None:
            raise RuntimeError("OpenAIServer is not running: call start() first")
        host, port = self._socket.getsockname()[:2]
        host = f"[{host}]" if ":" in str(host) else str(host)
        return f"http://{host}:{port}/v1"

    def start(self) -> str:
        """Binds, serves on a daemon thread, and returns the URL (ending in /v1) once
        uvicorn accepts connections."""
        if self._socket is not None:
            return self.url
        sock = _listen(self.host, self.port)
        protocol = type(
            "_Protocol",
            (LimitedH11Protocol,),
            {"read_timeout": self.read_timeout, "max_connections": self.max_connections},
        )
        config = uvicorn.Config(
            _Guard(self.app(), self),
            http=protocol,
            ws="none",
            lifespan="off",
            loop="asyncio",
            interface="asgi3",
            log_config=None,  # the host application's logging, untouched
            access_log=False,
            proxy_headers=False,
            server_header=False,
            headers=[("server", "kgagent-openai")],
            timeout_keep_alive=self.read_timeout,  # type: ignore[arg-type]
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"openai-server:{sock.getsockname()[1]}",
            daemon=True,
        )
        self._socket, self._server, self._thread = sock, server, thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"OpenAIServer did not start within {_START_TIMEOUT:g} s")
            time.sleep(0.005)
        log.debug("serving %s at %s", self.model_name, self.url)
        return self.url

    def stop(self) -> None:
        """Stops serving, closes open connections and the socket (idempotent). A model
        call in flight finishes on its worker thread; its reply is dropped."""
        sock, server, thread = self._socket, self._server, self._thread
        self._socket = self._server = self._thread = None
        if server is not None:
            server.should_exit = server.force_exit = True  # no wait for requests in flight
        if thread is not None:
            thread.join(timeout=5)
        if sock is not None:
            sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._socket is not None else "stopped"
        return f"OpenAIServer({self.model_name!r}, {where})"

    # -- the application ----------------------------------------------------------------

    def app(self) -> FastAPI:
        """The FastAPI application: the two endpoints and OpenAI-style error bodies
        (the header checks run before it, in :class:`_Guard`)."""
        app = FastAPI(
            title="kgagent OpenAI-compatible server",
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
        )

        @app.get("/v1/models")
        async def models() -> JSONResponse:
            return JSONResponse(self.models())

        @app.post("/v1/chat/completions")
        async def chat_completions(request: Request) -> Response:
            try:
                body = await request.body()
            except ClientDisconnect:  # gone or stalled: logged by the protocol
                return Response(status_code=HTTPStatus.BAD_REQUEST)  # never sent
            decoded = _decode(body)
            threads = to_thread.current_default_thread_limiter()  # this server's loop
            threads.total_tokens = max(threads.total_tokens, self.max_connections)
            try:
                reply = await to_thread.run_sync(self.complete, decoded, abandon_on_cancel=True)
            except BadRequest:
                raise
            except Exception as exc:  # the model failed: tell the client, keep serving
                log.exception("request POST /v1/chat/completions failed")
                raise BadRequest(
                    f"{type(exc).__name__}: {exc}",
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    "server_error",
                ) from None
            return JSONResponse(reply)

        async def bad_request(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, BadRequest)
            return error_response(exc)

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            path = request.url.path
            if exc.status_code == HTTPStatus.NOT_FOUND:
                return error_response(
                    BadRequest(f"unknown path {path}", exc.status_code, "not_found")
                )
            if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
                message = f"{request.method} not allowed on {path}"
                return error_response(BadRequest(message, exc.status_code))
            return error_response(BadRequest(str(exc.detail), exc.status_code))

        async def server_error(request: Request, exc: Exception) -> Response:
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            return error_response(BadRequest(f"{type(exc).__name__}", status, "server_error"))

        app.add_exception_handler(BadRequest, bad_request)
        app.add_exception_handler(HTTPException, http_error)
        app.add_exception_handler(Exception, server_error)  # a bug: OpenAI's shape too
        return app

    def models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": self.model_name, "object": "model", "created": 0, "owned_by": "kgagent"}
            ],
        }

    def complete(self, request: Any) -> dict[str, Any]:
        """The chat-completion reply to a decoded request body (raises BadRequest)."""
        if not isinstance(request, dict):
            raise BadRequest("request body must be a JSON object")
        messages = _parse_messages(request.get("messages"))
        size = sum(len(m["content"]) for m in messages)
        if size > self.max_prompt_chars:
            raise BadRequest(
                f"messages: {size:,} characters, over this server's limit of "
                f"{self.max_prompt_chars:,} (max_prompt_chars)"
            )
        if request.get("stream"):
            raise BadRequest("stream: true is not supported by this server")
        n = request.get("n", 1)
        if n not in (None, 1):
            raise BadRequest("only n = 1 is supported")
        max_tokens = request.get("max_completion_tokens", request.get("max_tokens"))
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise BadRequest("max_tokens must be a positive integer")
        if max_tokens is not None and max_tokens > self.max_tokens:
            raise BadRequest(
                f"max_tokens {max_tokens} is over this server's limit of {self.max_tokens}"
            )
        top_n = request.get("top_logprobs")
        if top_n is not None and (
            isinstance(top_n, bool) or not isinstance(top_n, int) or not 0 <= top_n <= 20
        ):
            raise BadRequest("top_logprobs must be an integer from 0 to 20")

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
            raise BadRequest(
                f"the model is busy (waited {self.queue_timeout:g} s); retry later",
                HTTPStatus.SERVICE_UNAVAILABLE,
                "server_busy",
            )
        try:
            yield
        finally:
            self._llm_lock.release()

    def admit(self, headers: dict[bytes, bytes]) -> None:
        """Checks a request by its headers alone, before its body is read (raises
        BadRequest): the API key (a wrong key costs no upload), then the body's size."""
        key = self.api_key
        if key:
            sent = headers.get(b"authorization", b"")
            if not hmac.compare_digest(sent, b"Bearer " + key.encode("utf-8")):
                raise BadRequest(
                    "missing or wrong API key (Authorization: Bearer ...)",
                    HTTPStatus.UNAUTHORIZED,
                    "authentication_error",
                )
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            raise BadRequest("chunked request bodies are not supported: send Content-Length")
        try:
            length = int(headers.get(b"content-length") or 0)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            raise BadRequest("invalid Content-Length") from None
        if length > self.max_body:
            raise BadRequest(
                f"request body of {length:,} bytes is over this server's limit of "
                f"{self.max_body:,}",
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )


class _Guard:
    """The ASGI application uvicorn runs: :meth:`OpenAIServer.admit` on the headers
    before the app sees the request (a refusal closes the connection, since its body
    was not read), and the last line against a traceback reaching the client."""

    def __init__(self, app: FastAPI, server: OpenAIServer) -> None:
        self.app, self.server = app, server

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self.server.admit(dict(scope["headers"]))
        except BadRequest as exc:
            await error_response(exc, close=True)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:  # stop() with a request in flight: nothing to answer
            return
        except Exception:  # a bug: FastAPI has answered 500; uvicorn would log it again
            log.exception("request %s %s failed", scope["method"], scope["path"])


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _token(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def _parse_messages(raw: Any) -> list[Message]:
    """OpenAI messages as kgagent ``Message``s (text parts of list contents are joined)."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages: expected a non-empty list of {role, content} objects")
    out: list[Message] = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise BadRequest(f"messages[{i}]: expected an object with a string role")
        content = m.get("content")
        if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
            parts = [p.get("text") for p in content if isinstance(p, dict)]
            if not all(isinstance(p, str) for p in parts):
                raise BadRequest(f"messages[{i}].content: only text parts are supported")
            content = "".join(parts)
        elif content is None:
            content = ""
        if not isinstance(content, str):
            raise BadRequest(f"messages[{i}].content: expected a string")
        out.append(Message(role=m["role"], content=content))
    return out


def _decode(body: bytes) -> Any:
    """The request body as JSON, refused (400) unless UTF-8, valid, at most
    ``MAX_DEPTH`` levels deep and free of lone surrogates (``"\\ud800"`` decodes to a str
    that no tokenizer, and no UTF-8 reply, can encode)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        request = json.loads(text)
    except RecursionError:
        raise BadRequest(f"request body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise BadRequest(f"request body is not valid JSON ({exc})") from None
    todo: list[tuple[Any, str, int]] = [(request, "body", 1)]  # (value, where, depth)
    while todo:
        value, where, depth = todo.pop()
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, dict | list) and depth > MAX_DEPTH:
            raise BadRequest(f"request body nests deeper than {MAX_DEPTH} levels")
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
        raise BadRequest(
            f"{where}: a lone surrogate (U+{code:04X}) at character {exc.start} is not text"
        ) from None
