"""The OpenAI-compatible HTTP backend against real servers on loopback.

``OpenAIServer`` serves a deterministic fake LLM; tiny ``ThreadingHTTPServer``s play the
servers that misbehave (no logprobs, 500s, garbage, slowness). Everything is real HTTP
over 127.0.0.1, nothing is mocked.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from kgagent.errors import ConfigError, KGAgentError, LLMError
from kgagent.llm.base import LLM, Message, normalize_rows
from kgagent.llm.openai import OpenAIChatLM
from kgagent.llm.serve import OpenAIServer

OPTS = ["0", "1", "2", "3", "4"]


class PickLM:
    """Favours the digit after "pick " in the last user message; nearer digits score higher."""

    name = "fake-pick"
    scores_choices = True

    def __init__(self) -> None:
        self.generated: list[int] = []

    @staticmethod
    def target(conversation: Sequence[Message]) -> int:
        last = [m["content"] for m in conversation if m["role"] == "user"][-1]
        match = re.search(r"pick (\d)", last)
        return int(match.group(1)) if match else 0

    def choose(
        self, conversations: Sequence[Sequence[Message]], options: Sequence[str]
    ) -> np.ndarray:
        def score(o: str, c: Sequence[Message]) -> float:
            if not o.isdigit():
                return -20.0  # yes / no: never this fake's answer
            return -1.5 * abs(int(o) - self.target(c))

        logits = [[score(o, c) for o in options] for c in conversations]
        return normalize_rows(np.array(logits, dtype=np.float64))

    def generate(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int = 64
    ) -> list[str]:
        self.generated.append(max_new_tokens)
        return [f"  fixed reply (max {max_new_tokens})  " for _ in conversations]


def conv(text: str) -> list[Message]:
    return [
        Message(role="system", content="Answer with one digit."),
        Message(role="user", content=text),
    ]


@pytest.fixture
def fake() -> PickLM:
    return PickLM()


@pytest.fixture
def served(fake: PickLM) -> Iterator[str]:
    with OpenAIServer(fake, model_name="pick") as url:
        yield url


# -- tiny misbehaving servers -------------------------------------------------------------

Reply = tuple[int, bytes]


class _TinyHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(json.loads(body))  # type: ignore[attr-defined]
        status, data = self.server.respond(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def tiny_server(respond: Callable[[dict[str, Any]], Reply]) -> Iterator[tuple[str, list]]:
    """A throwaway server answering every POST with ``respond(request)``; yields (url, log)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _TinyHandler)
    httpd.daemon_threads = True
    httpd.respond = respond  # type: ignore[attr-defined]
    httpd.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", httpd.requests  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def completion(content: str, **choice: Any) -> Reply:
    reply = {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, **choice}],
    }
    return 200, json.dumps(reply).encode()


def client(url: str, **kwargs: Any) -> OpenAIChatLM:
    lm = OpenAIChatLM(base_url=url, model="pick", timeout=kwargs.pop("timeout", 5.0), **kwargs)
    lm.retry_backoff = 0.01
    return lm


def raw_request(url: str, data: bytes | None, method: str = "POST") -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- choose / generate against OpenAIServer ------------------------------------------------


def test_choose_reads_logprobs(served: str, fake: PickLM) -> None:
    lm = client(served)
    assert isinstance(lm, LLM)
    assert lm.name == f"openai:pick@{served}"
    assert served.startswith("http://127.0.0.1:") and served.endswith("/v1")
    rows = lm.choose([conv("Which one? pick 3")], OPTS)
    assert rows.shape == (1, len(OPTS))
    assert int(np.argmax(rows[0])) == 3
    assert np.exp(rows).sum(axis=1) == pytest.approx([1.0])
    # every digit is in the top 20, so the numbers are the model's own (renormalized)
    np.testing.assert_allclose(rows, fake.choose([conv("pick 3")], OPTS), atol=1e-9)
    assert lm.scores_choices


def test_choose_batch_keeps_order(served: str) -> None:
    lm = client(served, max_workers=3)
    targets = [4, 0, 2, 1, 3, 2, 0]
    rows = lm.choose([conv(f"now pick {t}") for t in targets], OPTS)
    assert rows.shape == (len(targets), len(OPTS))
    assert [int(i) for i in np.argmax(rows, axis=1)] == targets
    np.testing.assert_allclose(np.exp(rows).sum(axis=1), 1.0)
    assert lm.choose([], OPTS).shape == (0, len(OPTS))


def test_generate(served: str, fake: PickLM) -> None:
    lm = client(served)
    assert lm.generate([conv("hello"), conv("again")], max_new_tokens=7) == [
        "fixed reply (max 7)",
        "fixed reply (max 7)",
    ]
    assert fake.generated == [7, 7]


def test_api_key_is_sent(fake: PickLM) -> None:
    with OpenAIServer(fake, api_key="sekret") as url:
        assert client(url, api_key="sekret").generate([conv("hi")]) == ["fixed reply (max 64)"]
        with pytest.raises(LLMError) as info:
            client(url).generate([conv("hi")])
        assert info.value.status == 401
        assert f"{url}/chat/completions" in str(info.value)
        assert "API key" in str(info.value)
        with pytest.raises(LLMError, match="401"):
            client(url, api_key="wrong").choose([conv("pick 1")], OPTS)


# -- servers without logprobs -------------------------------------------------------------


@pytest.mark.parametrize("logprobs", ["absent", None])
def test_choose_falls_back_to_the_generated_token(logprobs: Any) -> None:
    extra = {} if logprobs == "absent" else {"logprobs": logprobs}
    with tiny_server(lambda _: completion("3", **extra)) as (url, requests):
        rows = client(url).choose([conv("pick 1"), conv("pick 2")], OPTS)
    assert [int(i) for i in np.argmax(rows, axis=1)] == [3, 3]
    assert np.all(np.isfinite(rows))
    np.testing.assert_allclose(np.exp(rows[:, 3]), 1.0)
    assert all(r["logprobs"] is True and r["max_tokens"] == 1 for r in requests)
    # the two conversations went out concurrently: compare without order
    sent = sorted(r["messages"][-1]["content"] for r in requests)
    assert sent == ["pick 1", "pick 2"] and requests[0]["messages"][0]["role"] == "system"


def test_server_rejecting_logprobs_is_asked_without_them() -> None:
    def respond(request: dict[str, Any]) -> Reply:
        if "logprobs" in request:
            error = {"error": {"message": "logprobs is not supported", "type": "bad"}}
            return 400, json.dumps(error).encode()
        return completion("2")

    with tiny_server(respond) as (url, requests):
        lm = client(url, max_workers=1)
        rows = lm.choose([conv("a"), conv("b")], OPTS)
    assert [int(i) for i in np.argmax(rows, axis=1)] == [2, 2]
    assert not lm.logprobs_supported and not lm.scores_choices
    assert ["logprobs" in r for r in requests] == [True, False, False]


def test_top_logprobs_map_stripped_tokens() -> None:
    top = [
        {"token": " 2", "logprob": -0.1},
        {"token": "2", "logprob": -3.0},
        {"token": "The", "logprob": -2.5},
        {"token": "Ġ0", "logprob": -4.0},
    ]
    content = [{"token": " 2", "logprob": -0.1, "top_logprobs": top}]
    with tiny_server(lambda _: completion(" 2", logprobs={"content": content})) as (url, _):
        rows = client(url).choose([conv("x")], ["0", "1", "2"])
    expected = normalize_rows(np.array([[-4.0, -9.0, -0.1]]))  # "1" missing: min - 5
    np.testing.assert_allclose(rows, expected)


# -- errors -------------------------------------------------------------------------------


def test_connection_refused_names_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(KGAgentError) as info:
        client(url).choose([conv("pick 1")], OPTS)
    assert isinstance(info.value, LLMError)
    assert f"{url}/chat/completions" in str(info.value)
    assert "connection refused" in str(info.value)


def test_http_500_is_retried_once_then_reported() -> None:
    body = json.dumps({"error": {"message": "CUDA out of memory", "type": "server"}}).encode()
    with tiny_server(lambda _: (500, body)) as (url, requests), pytest.raises(LLMError) as info:
        client(url).generate([conv("hi")])
    assert info.value.status == 500
    message = str(info.value)
    assert "HTTP 500" in message and "CUDA out of memory" in message and url in message
    assert len(requests) == 2


def test_http_500_once_then_success() -> None:
    calls: list[int] = []

    def respond(_: dict[str, Any]) -> Reply:
        calls.append(1)
        return (503, b"busy") if len(calls) == 1 else completion("ok")

    with tiny_server(respond) as (url, _):
        assert client(url).generate([conv("hi")]) == ["ok"]
    assert len(calls) == 2


def test_malformed_replies() -> None:
    garbage = tiny_server(lambda _: (200, b"<html>not json</html>"))
    with garbage as (url, _), pytest.raises(LLMError, match="not JSON"):
        client(url).generate([conv("hi")])
    no_choices = tiny_server(lambda _: (200, b'{"object": "error"}'))
    with no_choices as (url, _), pytest.raises(LLMError, match=r"no choices\[0\]"):
        client(url).choose([conv("hi")], OPTS)


def test_timeout() -> None:
    def slow(_: dict[str, Any]) -> Reply:
        time.sleep(0.6)
        return completion("1")

    with tiny_server(slow) as (url, _), pytest.raises(LLMError, match="timeout") as info:
        client(url, timeout=0.2).generate([conv("hi")])
    assert url in str(info.value)


def test_base_url_without_v1_gets_a_hint(served: str) -> None:
    root = served.removesuffix("/v1")
    with pytest.raises(LLMError) as info:
        client(root).generate([conv("hi")])
    assert info.value.status == 404
    assert "/v1" in str(info.value)


def test_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        OpenAIChatLM(base_url="127.0.0.1:8000/v1", model="m")
    with pytest.raises(ConfigError):
        OpenAIChatLM(base_url="http://127.0.0.1:8000/v1", model="")
    assert OpenAIChatLM(base_url="http://h:1/v1/", model="m").base_url == "http://h:1/v1"


# -- the server itself --------------------------------------------------------------------


def test_server_models_and_errors(served: str) -> None:
    status, body = raw_request(f"{served}/models", None, method="GET")
    assert status == 200
    assert body["object"] == "list" and body["data"][0]["id"] == "pick"

    status, body = raw_request(f"{served}/chat/completions", b"{not json")
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert "JSON" in body["error"]["message"]

    status, body = raw_request(f"{served}/chat/completions", b'{"model": "pick"}')
    assert status == 400 and "messages" in body["error"]["message"]

    status, body = raw_request(f"{served}/nowhere", b"{}")
    assert status == 404 and "error" in body


def test_server_completion_format(served: str) -> None:
    request = {
        "model": "pick",
        "messages": conv("pick 7"),
        "max_tokens": 1,
        "logprobs": True,
        "top_logprobs": 3,
    }
    status, body = raw_request(f"{served}/chat/completions", json.dumps(request).encode())
    assert status == 200 and body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "7"}
    first = choice["logprobs"]["content"][0]
    assert first["token"] == "7"
    assert [t["token"] for t in first["top_logprobs"]] == ["7", "6", "8"]


def test_server_stops_cleanly(fake: PickLM) -> None:
    server = OpenAIServer(fake)
    url = server.start()
    assert server.start() == url  # idempotent
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    server.stop()
    server.stop()
    with pytest.raises(LLMError, match="connection refused"):
        client(f"http://127.0.0.1:{port}/v1").generate([conv("hi")])


def test_server_reports_model_failures_as_500() -> None:
    class Broken(PickLM):
        def generate(self, conversations: Any, *, max_new_tokens: int = 64) -> list[str]:
            raise ValueError("model exploded")

    with OpenAIServer(Broken()) as url, pytest.raises(LLMError) as info:
        client(url).generate([conv("hi")])
    assert info.value.status == 500 and "ValueError: model exploded" in str(info.value)


def test_server_wrong_method_is_405_in_openai_shape(served: str) -> None:
    status, body = raw_request(f"{served}/chat/completions", None, method="GET")
    assert status == 405
    assert body["error"] == {
        "message": "GET not allowed on /v1/chat/completions",
        "type": "invalid_request_error",
        "code": 405,
    }


def test_server_stops_at_once_with_a_request_in_flight(capfd: pytest.CaptureFixture) -> None:
    """stop() does not wait for the model: the client in flight loses its connection,
    nothing is printed, and the server's port is closed."""
    started, release = threading.Event(), threading.Event()

    class Stuck(PickLM):
        def generate(self, conversations: Any, *, max_new_tokens: int = 64) -> list[str]:
            started.set()
            release.wait(10)
            return ["late"]

    server = OpenAIServer(Stuck())
    url = server.start()
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            client(url).generate([conv("hi")])
        except LLMError as exc:
            errors.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    assert started.wait(5)
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 2
    thread.join(10)
    release.set()
    assert len(errors) == 1 and url in str(errors[0])
    with pytest.raises(LLMError, match="connection refused"):
        client(url).generate([conv("hi")])
    assert "Traceback" not in capfd.readouterr().err
