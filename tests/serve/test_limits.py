"""Safety by default: API keys (401 without or with a wrong one; the page and /healthz
stay open), the body limit (413 whether the size is declared or not), the concurrency
limit (a short wait for a slot, then 429 with Retry-After), conversations bounded by a
TTL and a cap, and /metrics counting requests by route template."""

from __future__ import annotations

import gc
import re
import threading
import time

import pytest

from kgagent.dialogue.state import DialogueState
from kgagent.errors import ConfigError
from kgagent.serve.conversations import ConversationStore
from kgagent.serve.errors import ServeError
from kgagent.serve.limits import ConcurrencyLimit
from kgagent.serve.settings import ServeSettings, api_key_from_env
from tests.serve.conftest import make_client

KEY = "k3y-0123456789-abcdef"
ASK = {"question": "Who directed Jaws?"}


def _status(r) -> tuple[int, int]:
    return r.status_code, r.json()["error"]["status"]


def test_api_key_needed_on_v1_and_metrics_only(agent):
    c = make_client(agent, api_key=KEY)
    for path in ("/v1/info", "/metrics"):
        r = c.get(path)
        assert _status(r) == (401, 401) and r.headers["www-authenticate"] == "Bearer"
        assert "no API key" in r.json()["error"]["message"]
    wrong = c.post("/v1/ask", json=ASK, headers={"Authorization": "Bearer nope"})
    assert _status(wrong) == (401, 401) and wrong.json()["error"]["message"] == "wrong API key"
    assert KEY not in wrong.text
    assert c.post("/v1/ask", json=ASK, headers={"X-API-Key": KEY[:-1]}).status_code == 401
    # a key that is not ASCII is compared as bytes: refused, not a 500
    assert c.get("/v1/info", headers={"X-API-Key": b"\xe9t\xe9"}).status_code == 401
    assert c.post("/v1/ask", json=ASK, headers={"Authorization": f"Basic {KEY}"}).status_code == 401
    # the key is checked before the body is read: no 422 for a client without it
    assert c.post("/v1/ask", content=b"{oops", headers={"content-type": "application/json"}
                  ).status_code == 401  # fmt: skip
    ok = c.post("/v1/ask", json=ASK, headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200 and ok.json()["answers"] == ["Steven Spielberg"]
    assert c.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200
    for path in ("/", "/healthz", "/openapi.json"):
        assert c.get(path).status_code == 200, path


def test_the_key_comes_from_the_environment_and_must_be_there(monkeypatch):
    monkeypatch.setenv("KGAGENT_TEST_KEY", "s3cret")
    assert api_key_from_env("KGAGENT_TEST_KEY") == "s3cret"
    monkeypatch.delenv("KGAGENT_TEST_KEY")
    with pytest.raises(ConfigError, match="KGAGENT_TEST_KEY is not set"):
        api_key_from_env("KGAGENT_TEST_KEY")
    monkeypatch.setenv("KGAGENT_TEST_KEY", "  ")
    with pytest.raises(ConfigError, match="is empty"):
        api_key_from_env("KGAGENT_TEST_KEY")
    with pytest.raises(ConfigError, match="api_key"):
        ServeSettings(api_key="")
    assert "s3cret" not in repr(ServeSettings(api_key="s3cret"))


def test_a_body_over_the_limit_is_413_declared_or_not(agent):
    c = make_client(agent, max_body=100)
    fits = {"question": "Who directed Jaws?" + " " * 40}
    assert c.post("/v1/ask", json=fits).status_code == 200
    big = {"question": "x" * 200}
    r = c.post("/v1/ask", json=big)  # Content-Length: 214
    assert _status(r) == (413, 413) and r.json()["error"]["field"] == "body"

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"question": "'
        for _ in range(20):
            yield b"x" * 10
        yield b'"}'

    r = c.post("/v1/ask", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert _status(r) == (413, 413)
    for declared in ("-5", "abc"):  # real servers refuse these earlier; the app does too
        bad = c.post("/v1/ask", content=b"{}", headers={"content-length": declared})
        assert _status(bad) == (400, 400) and bad.json()["error"]["field"] == "body"


def test_concurrency_limit_answers_429_with_retry_after_then_recovers(gated):
    c = make_client(gated, max_concurrency=1, retry_after=3, queue_wait=0.0)
    results = {}
    first = threading.Thread(target=lambda: results.update(r=c.post("/v1/ask", json=ASK)))
    first.start()
    try:
        assert gated.entered.acquire(timeout=20)  # the first ask holds the only slot
        busy = c.post("/v1/ask", json=ASK)
        assert _status(busy) == (429, 429) and busy.headers["retry-after"] == "3"
        assert "busy" in busy.json()["error"]["message"]
        stream = c.post("/v1/ask?stream=true", json=ASK)
        assert stream.status_code == 429  # refused before any event is sent
        assert c.post("/v1/ask_batch", json={"questions": ["a"]}).status_code == 429
        assert c.get("/v1/info").status_code == 200  # not an ask: not limited
    finally:
        gated.gate.set()
        first.join(timeout=20)
    assert results["r"].status_code == 200
    assert c.app.state.service.limit.busy == 0
    assert c.post("/v1/ask", json=ASK).status_code == 200


def test_a_stream_releases_its_slot_when_it_ends(agent):
    c = make_client(agent, max_concurrency=1)
    for _ in range(3):
        assert c.post("/v1/ask?stream=true", json=ASK).status_code == 200
        assert c.app.state.service.limit.busy == 0


def test_a_burst_waits_for_a_slot_and_overload_is_refused():
    limit = ConcurrencyLimit(1, wait=5.0)
    held = limit.acquire()
    got = {}
    waiter = threading.Thread(target=lambda: got.update(slot=limit.acquire()))
    waiter.start()
    time.sleep(0.2)
    assert "slot" not in got  # waiting, not refused
    held.release()
    waiter.join(timeout=5)
    assert got["slot"] is not None and limit.busy == 1
    short = ConcurrencyLimit(1, wait=0.05)
    keep = short.acquire()
    t0 = time.monotonic()
    with pytest.raises(ServeError) as exc:
        short.acquire()
    assert exc.value.status == 429 and time.monotonic() - t0 >= 0.05
    keep.release()
    got["slot"].release()


def test_a_slot_is_released_once_and_never_leaks():
    limit = ConcurrencyLimit(2)
    with limit.acquire() as slot:
        assert limit.busy == 1
        slot.release()  # early, then again on leaving the block: counted once
    assert limit.busy == 0
    kept = [limit.acquire(), limit.acquire()]
    with pytest.raises(ServeError) as exc:
        limit.acquire()
    assert exc.value.status == 429
    kept.pop()  # a response dropped before its stream began: the slot is collected
    gc.collect()
    assert limit.busy == 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Talk:
    """A conversation with no agent behind it (the store only keeps and hands it out)."""

    def __init__(self) -> None:
        self.state = DialogueState()


def test_conversations_expire_after_the_ttl_idle():
    clock = Clock()
    store = ConversationStore(Talk, max_size=10, ttl=60, clock=clock)
    a, b = store.create(), store.create()
    clock.now += 50
    assert store.turns(a) == []  # touching `a` keeps it alive
    clock.now += 20  # b idle 70 s, a idle 20 s
    assert len(store) == 1
    with pytest.raises(ServeError) as exc:
        store.turns(b)
    assert exc.value.status == 404
    clock.now += 61
    with pytest.raises(ServeError):
        store.delete(a)


def test_the_cap_refuses_new_conversations_until_one_expires_or_is_deleted(agent):
    c = make_client(agent, conversations_max=2, conversation_ttl=60)
    store = c.app.state.service.conversations
    clock = Clock()
    store.clock = clock
    ids = [c.post("/v1/conversations").json()["id"] for _ in range(2)]
    full = c.post("/v1/conversations")
    assert _status(full) == (429, 429)
    assert "too many conversations" in full.json()["error"]["message"]
    assert full.headers["retry-after"] == "60"  # when the oldest expires
    assert c.delete(f"/v1/conversations/{ids[0]}").status_code == 204
    third = c.post("/v1/conversations").json()["id"]
    clock.now += 30
    assert c.post(f"/v1/conversations/{third}/turns", json=ASK).status_code == 200  # touched
    clock.now += 31  # ids[1] idle 61 s: dropped to make room; `third` was used 31 s ago
    assert c.post("/v1/conversations").status_code == 201
    assert c.get(f"/v1/conversations/{ids[1]}").status_code == 404
    assert c.get(f"/v1/conversations/{third}").status_code == 200


def test_ids_are_unguessable_and_unique():
    store = ConversationStore(Talk, max_size=1000, ttl=60)
    ids = {store.create() for _ in range(200)}
    assert len(ids) == 200 and all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) for i in ids)


_SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of ``name`` with these labels (None: none)."""
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) == name:
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(m.group(3))
    return None


def test_metrics_count_requests_per_route_template(client):
    for _ in range(2):
        client.post("/v1/ask", json=ASK)
    client.post("/v1/ask", json={"question": 1})
    cid = client.post("/v1/conversations").json()["id"]
    client.post(f"/v1/conversations/{cid}/turns", json=ASK)
    client.get("/v1/conversations/no-such-id")
    text = client.get("/metrics").text
    assert _sample(text, "kgagent_requests_total", endpoint="/v1/ask", method="POST",
                   status="200") == 2  # fmt: skip
    assert _sample(text, "kgagent_requests_total", endpoint="/v1/ask", status="422") == 1
    assert _sample(text, "kgagent_request_seconds_count", endpoint="/v1/ask") == 3
    assert _sample(text, "kgagent_request_seconds_bucket", endpoint="/v1/ask", le="+Inf") == 3
    turns = "/v1/conversations/{cid}/turns"
    assert _sample(text, "kgagent_requests_total", endpoint=turns, status="200") == 1
    assert _sample(text, "kgagent_requests_total", endpoint="/v1/conversations/{cid}",
                   status="404") == 1  # fmt: skip
    assert cid not in text and "no-such-id" not in text  # ids never become labels
    assert _sample(text, "kgagent_in_flight") == 1  # this /metrics request
    assert _sample(text, "kgagent_conversations") == 1
    assert "# TYPE kgagent_request_seconds histogram" in text
    bucket = r'kgagent_request_seconds_bucket\{endpoint="/v1/ask",le="[^"]+"\} (\S+)'
    buckets = [float(x) for x in re.findall(bucket, text)]
    assert buckets == sorted(buckets)  # cumulative
