"""An LLM behind any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama, ...).

Only the standard library is used (``urllib.request`` + ``json``), so the backend costs no
dependency and works wherever the reader runs. ``choose`` asks the server for the reply's
first token with ``logprobs``/``top_logprobs`` and reads the options' log-probabilities from
it: one short request per conversation, sent concurrently. Servers that ignore ``logprobs``
still work: the generated token is parsed instead (a one-hot row, see :meth:`choose`).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from kgagent.errors import ConfigError, LLMError
from kgagent.llm.base import Message, normalize_rows, parse_choice

__all__ = ["OpenAIChatLM"]

TOP_LOGPROBS = 20  # the most OpenAI's API allows; vLLM and llama.cpp accept it too
MISSING_GAP = 5.0  # an option outside the top-k sits this far below the smallest seen
NOTHING_FOUND = -30.0  # log-probability floor when no option is among the top-k
_SNIPPET = 300  # characters of a bad reply quoted in an error


class _Transient(Exception):
    """Internal: a failure worth one retry (connection reset, 5xx, 429)."""

    def __init__(self, error: LLMError) -> None:
        super().__init__(str(error))
        self.error = error


class OpenAIChatLM:
    """A chat model served over HTTP with the OpenAI chat-completions API.

    Args:
        base_url: the API root *including* its version segment, e.g.
            ``"http://127.0.0.1:8000/v1"`` (vLLM, llama.cpp), ``"http://127.0.0.1:11434/v1"``
            (Ollama); requests go to ``{base_url}/chat/completions``. Nothing is appended
            or guessed, because servers mount the API under different prefixes.
        model: the model name the server expects in each request.
        api_key: sent as ``Authorization: Bearer <api_key>``; None sends no header.
        timeout: seconds to wait for connecting and for each reply.
        max_workers: conversations of one batch sent concurrently (servers such as vLLM
            batch concurrent requests themselves, so this is where the throughput is).

    Attributes:
        retry_backoff: seconds before the single retry of a reset connection, 5xx or 429.
        logprobs_supported: False once the server rejected the ``logprobs`` field with a
            400; later ``choose`` calls then only generate and parse (and
            ``scores_choices`` turns False).
    """

    scores_choices = True
    retry_backoff = 0.5

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_workers: int = 4,
    ) -> None:
        url = str(base_url).strip().rstrip("/")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"llm base_url {base_url!r}: expected http(s)://host[:port]/v1 "
                "(the API root including /v1)"
            )
        if not model:
            raise ConfigError("llm model: the OpenAI-compatible server needs a model name")
        if timeout <= 0:
            raise ConfigError(f"llm timeout {timeout!r}: must be positive")
        self.base_url = url
        self.model = str(model)
        self.api_key = api_key
        self.timeout = float(timeout)
        self.max_workers = max(1, int(max_workers))
        self.logprobs_supported = True
        # A proxy from the environment must not capture a server on this very machine.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(parts.hostname) else []
        self._opener = urllib.request.build_opener(*handlers)

    @property
    def name(self) -> str:
        return f"openai:{self.model}@{self.base_url}"

    def __repr__(self) -> str:
        return f"OpenAIChatLM(model={self.model!r}, base_url={self.base_url!r})"

    # -- LLM protocol -------------------------------------------------------------------

    def choose(
        self, conversations: Sequence[Sequence[Message]], options: Sequence[str]
    ) -> np.ndarray:
        """(n, len(options)) log-probabilities of each option as the reply's first token.

        Each conversation is one request for a single greedy token with its
        ``top_logprobs`` (20). An option's score is the best log-probability among top
        tokens equal to it after stripping whitespace (so " 3" and "3" both count); an
        option missing from the top-k gets the smallest log-probability seen minus 5, or
        -30 when no option was seen at all (a uniform row: the server told us nothing).

        A reply without log-probabilities (the server ignores the field) falls back to
        parsing the generated token with :func:`~kgagent.llm.base.parse_choice`: that row
        is one-hot (other options at -30 rather than -inf, so sub-rows stay finite).
        """
        opts = [str(o) for o in options]
        if not opts:
            return np.zeros((len(conversations), 0), dtype=np.float64)
        rows = self._map(lambda conv: self._choose_one(conv, opts), conversations)
        if not rows:
            return np.zeros((0, len(opts)), dtype=np.float64)
        return normalize_rows(np.stack(rows))

    def generate(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int = 64
    ) -> list[str]:
        """Greedy replies (temperature 0), one per conversation, whitespace-stripped."""
        return self._map(lambda conv: self._generate_one(conv, max_new_tokens), conversations)

    # -- one request --------------------------------------------------------------------

    def _choose_one(self, conversation: Sequence[Message], options: list[str]) -> np.ndarray:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": _messages(conversation),
            "max_tokens": 1,
            "temperature": 0,
        }
        reply: dict[str, Any] | None = None
        if self.logprobs_supported:
            try:
                reply = self._post(
                    "/chat/completions",
                    {**payload, "logprobs": True, "top_logprobs": TOP_LOGPROBS},
                )
            except LLMError as exc:
                if exc.status != 400 or "logprob" not in str(exc).lower():
                    raise
                # The server refuses the field itself: stop asking, parse replies instead.
                self.logprobs_supported = False
                self.scores_choices = False
        if reply is None:
            reply = self._post("/chat/completions", payload)
        url = self.base_url + "/chat/completions"
        choice = _first_choice(reply, url)
        top = _top_logprobs(choice.get("logprobs"))
        if top:
            return _score_options(top, options)
        row = parse_choice(_content(choice, url), options)
        return np.maximum(row, NOTHING_FOUND)

    def _generate_one(self, conversation: Sequence[Message], max_new_tokens: int) -> str:
        payload = {
            "model": self.model,
            "messages": _messages(conversation),
            "max_tokens": max(1, int(max_new_tokens)),
            "temperature": 0,
        }
        reply = self._post("/chat/completions", payload)
        url = self.base_url + "/chat/completions"
        return _content(_first_choice(reply, url), url).strip()

    def _map(self, fn: Any, conversations: Sequence[Sequence[Message]]) -> list[Any]:
        """``fn`` over the conversations, in order, up to ``max_workers`` at a time."""
        convs = list(conversations)
        if len(convs) <= 1 or self.max_workers == 1:
            return [fn(c) for c in convs]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(convs))) as pool:
            return list(pool.map(fn, convs))

    # -- HTTP ---------------------------------------------------------------------------

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON and return the decoded reply; one retry on transient failures."""
        url = self.base_url + path
        data = json.dumps(payload).encode("utf-8")
        try:
            return self._post_once(url, data)
        except _Transient:
            time.sleep(self.retry_backoff)
        try:
            return self._post_once(url, data)
        except _Transient as exc:
            raise exc.error from exc.error.__cause__

    def _post_once(self, url: str, data: bytes) -> dict[str, Any]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "kgagent",
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            error = _http_error(url, exc)
            error.__cause__ = exc
            if exc.code >= 500 or exc.code == 429:
                raise _Transient(error) from exc
            raise error from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise self._timeout(url) from exc
            if isinstance(reason, ConnectionRefusedError):
                raise LLMError(
                    f"{url}: connection refused (is the server running at {self.base_url}?)",
                    url=url,
                ) from exc
            error = LLMError(f"{url}: cannot reach the server ({reason})", url=url)
            if isinstance(reason, ConnectionResetError):
                error.__cause__ = exc
                raise _Transient(error) from exc
            raise error from exc
        except TimeoutError as exc:  # the reply itself was too slow
            raise self._timeout(url) from exc
        except (ConnectionResetError, http.client.RemoteDisconnected) as exc:
            error = LLMError(f"{url}: the server closed the connection ({exc})", url=url)
            error.__cause__ = exc
            raise _Transient(error) from exc
        except (http.client.HTTPException, OSError) as exc:
            raise LLMError(f"{url}: request failed ({type(exc).__name__}: {exc})", url=url) from exc
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise LLMError(
                f"{url}: HTTP {status} reply is not JSON: {_snippet(body)!r}",
                url=url,
                status=status,
            ) from exc
        if not isinstance(decoded, dict):
            raise LLMError(
                f"{url}: HTTP {status} reply is not a JSON object: {_snippet(body)!r}",
                url=url,
                status=status,
            )
        return decoded

    def _timeout(self, url: str) -> LLMError:
        return LLMError(f"{url}: no reply within {self.timeout:g} s (timeout)", url=url)


# -- helpers ----------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _messages(conversation: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in conversation]


def _snippet(body: bytes | str) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


def _http_error(url: str, exc: urllib.error.HTTPError) -> LLMError:
    """An error naming the URL, the status and the server's own explanation."""
    try:
        body = exc.read()
    except OSError:
        body = b""
    message = _server_message(body)
    text = f"{url}: HTTP {exc.code} {exc.reason or ''}".rstrip()
    if message:
        text += f": {message}"
    if exc.code == 404:
        text += " (base_url must be the API root including /v1, e.g. http://host:8000/v1)"
    return LLMError(text, url=url, status=exc.code)


def _server_message(body: bytes) -> str:
    """The error message of an OpenAI-, vLLM-, llama.cpp- or Ollama-style error body."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return _snippet(body)
    if isinstance(decoded, dict):
        err = decoded.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str) and err:
            return err
        if decoded.get("message"):
            return str(decoded["message"])
        if decoded.get("detail"):
            return str(decoded["detail"])
    return _snippet(body)


def _first_choice(reply: dict[str, Any], url: str) -> dict[str, Any]:
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LLMError(
            f"{url}: unexpected reply, no choices[0]: {_snippet(json.dumps(reply))!r}", url=url
        )
    return choices[0]


def _content(choice: dict[str, Any], url: str) -> str:
    message = choice.get("message")
    if not isinstance(message, dict):
        raise LLMError(
            f"{url}: unexpected reply, no choices[0].message: {_snippet(json.dumps(choice))!r}",
            url=url,
        )
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _top_logprobs(logprobs: Any) -> list[tuple[str, float]]:
    """(token, logprob) pairs of the first generated token; [] if the reply has none.

    Reads the chat format (``content[0].top_logprobs`` = [{token, logprob}], plus the
    chosen token itself) and the legacy completions format some servers still send
    (``top_logprobs[0]`` = {token: logprob}).
    """
    if not isinstance(logprobs, dict):
        return []
    out: list[tuple[str, float]] = []
    content = logprobs.get("content")
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        entries = [first, *(first.get("top_logprobs") or [])]
        for e in entries:
            if isinstance(e, dict) and isinstance(e.get("token"), str):
                out.append((e["token"], e.get("logprob")))
    else:
        legacy = logprobs.get("top_logprobs")
        if isinstance(legacy, list) and legacy and isinstance(legacy[0], dict):
            out.extend(legacy[0].items())
    return [
        (t, float(lp))
        for t, lp in out
        if isinstance(lp, int | float) and not isinstance(lp, bool) and math.isfinite(lp)
    ]


def _score_options(top: list[tuple[str, float]], options: list[str]) -> np.ndarray:
    """Unnormalized log-probabilities of the options from the top-k first tokens."""
    index = {o: i for i, o in enumerate(options)}
    found = np.full(len(options), -np.inf, dtype=np.float64)
    for token, lp in top:
        # Raw BPE pieces ("Ġ3", "▁3") from some servers mean the same as " 3".
        i = index.get(token.replace("Ġ", " ").replace("▁", " ").strip())
        if i is not None and lp > found[i]:
            found[i] = lp
    if not np.isfinite(found).any():
        return np.full(len(options), NOTHING_FOUND, dtype=np.float64)
    floor = min(lp for _, lp in top) - MISSING_GAP
    return np.where(np.isfinite(found), found, floor)
