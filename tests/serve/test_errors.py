"""Every error is the contract's JSON (`{"error": {"status", "message", "field"}}`) with
its status: 422 naming the field of a malformed body, 400 for a value the agent refuses,
404 for an unknown route, conversation or entity, 405, 500 for a bug, one line and never
a traceback (the traceback goes to the server's log)."""

from __future__ import annotations

import logging

import pytest

from kgagent.agents import Agent
from kgagent.errors import LLMError
from tests.serve.conftest import make_client


def _error(r, status: int, field: str | None = "") -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "message", "field"}
    err = body["error"]
    assert err["status"] == status and err["message"] and "\n" not in err["message"]
    assert "Traceback" not in r.text
    if field != "":
        assert err["field"] == field, err
    return err


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/ask", {"question": 5}, "question"),
        ("/v1/ask", {"question": ["Who directed Jaws?"]}, "question"),
        ("/v1/ask", {"questions": "Who directed Jaws?"}, "question"),  # missing
        ("/v1/ask", {"question": "Who directed Jaws?", "stream": True}, "stream"),  # extra
        ("/v1/ask", {"question": ""}, "question"),
        ("/v1/ask", [1, 2], "body"),
        ("/v1/ask_batch", {"questions": ["Who directed Jaws?", 3]}, "questions[1]"),
        ("/v1/ask_batch", {"questions": "Who directed Jaws?"}, "questions"),
        ("/v1/retrieve", {"question": "Who directed Jaws?", "k": "3"}, "k"),
        ("/v1/retrieve", {"question": "Who directed Jaws?", "k": 0}, "k"),
        (
            "/v1/query",
            {"query": "ASK {}", "bindings": {"x": {"iri": "u:a", "literal": "b"}}},
            "bindings.x",
        ),
        ("/v1/conversations", {"ttl": 5}, "ttl"),
    ],
)
def test_a_malformed_body_is_422_naming_the_field(client, path, body, field):
    err = _error(client.post(path, json=body), 422, field)
    assert err["message"].startswith(field)


def test_not_json_and_no_body_are_422_on_the_body(client):
    json_type = {"content-type": "application/json"}
    r = client.post("/v1/ask", content=b'{"question": ', headers=json_type)
    assert "not valid JSON" in _error(r, 422, "body")["message"]
    _error(client.post("/v1/ask"), 422, "body")
    for unreadable in (b"[" * 60000, b'{"question": "\xff\xfe"}'):  # too deep; not UTF-8
        _error(client.post("/v1/ask", content=unreadable, headers=json_type), 422, "body")
    form = client.post("/v1/ask", content=b"question=hi",
                       headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert "Content-Type: application/json" in _error(form, 422, "body")["message"]  # curl -d
    _error(client.post("/v1/ask?stream=maybe", json={"question": "x"}), 422, "stream")


def test_a_question_longer_than_the_agent_takes_is_422(client, agent):
    limit = agent.config.qa.max_question_chars
    assert client.post("/v1/ask", json={"question": "x" * limit}).status_code == 200
    err = _error(client.post("/v1/ask", json={"question": "x" * (limit + 1)}), 422, "question")
    assert f"{limit}" in err["message"]
    long_batch = {"questions": ["Who directed Jaws?", "y" * (limit + 1)]}
    _error(client.post("/v1/ask_batch", json=long_batch), 422, "questions[1]")
    turn = f"/v1/conversations/{client.post('/v1/conversations').json()['id']}/turns"
    _error(client.post(turn, json={"question": "z" * (limit + 1)}), 422, "question")


def test_a_batch_over_max_batch_is_422(agent):
    c = make_client(agent, max_batch=2)
    assert c.post("/v1/ask_batch", json={"questions": ["a", "b"]}).status_code == 200
    _error(c.post("/v1/ask_batch", json={"questions": ["a", "b", "c"]}), 422, "questions")


def test_unknown_routes_methods_conversations_and_entities(client):
    _error(client.get("/v1/nothing"), 404, None)
    _error(client.get("/nothing.html"), 404, None)
    _error(client.get("/v1/ask"), 405, None)
    _error(client.delete("/v1/info"), 405, None)
    for method in ("get", "delete"):
        _error(getattr(client, method)("/v1/conversations/not-an-id"), 404, "id")
    _error(client.post("/v1/conversations/not-an-id/turns", json={"question": "hi"}), 404, "id")
    _error(client.get("/v1/conversations/" + "x" * 65), 422, "cid")
    err = _error(client.get("/v1/entity", params={"iri": "http://example.org/ent/nobody"}), 404,
                 "iri")  # fmt: skip
    assert "nobody" in err["message"]
    _error(client.get("/v1/entity"), 422, "iri")
    _error(client.get("/v1/entity", params={"iri": "urn:x", "limit": 0}), 422, "limit")


def test_a_bug_is_a_one_line_500_and_its_traceback_only_in_the_log(broken, caplog):
    c = make_client(broken)
    with caplog.at_level(logging.ERROR, logger="kgagent.serve"):
        r = c.post("/v1/ask", json={"question": "Who directed Jaws?"})
    err = _error(r, 500, None)
    assert "RuntimeError" in err["message"] and "secret" not in r.text
    assert any(rec.exc_info and "secret internal detail" in str(rec.exc_info[1])
               for rec in caplog.records)  # fmt: skip
    # the stream's status line is sent before the error: it comes as an `error` event
    s = c.post("/v1/ask?stream=true", json={"question": "Who directed Jaws?"})
    assert s.status_code == 200 and "Traceback" not in s.text and "secret" not in s.text
    last = s.text.strip().split("\n\n")[-1]
    assert last.startswith("event: error\ndata: ") and '"status":500' in last
    # the service goes on answering
    assert c.get("/healthz").status_code == 200


class LLMDownAgent(Agent):
    """An agent whose LLM server is unreachable (the message names its internal URL)."""

    def ask(self, question):
        raise LLMError("http://10.1.2.3:8080/v1/chat: connection refused", url="http://10.1.2.3")

    def answer(self, evidences):
        return self.ask("")


def test_a_server_side_kgagent_error_is_5xx_without_its_internal_detail(films_ws, caplog):
    with LLMDownAgent.open(films_ws, read_only=True) as down:
        c = make_client(down)
        with caplog.at_level(logging.WARNING, logger="kgagent.serve"):
            r = c.post("/v1/ask", json={"question": "Who directed Jaws?"})
            s = c.post("/v1/ask?stream=true", json={"question": "Who directed Jaws?"})
    err = _error(r, 502, None)
    assert "LLMError" in err["message"] and "10.1.2.3" not in r.text
    assert '"status":502' in s.text and "10.1.2.3" not in s.text
    assert any("10.1.2.3" in rec.getMessage() for rec in caplog.records)  # for the operator


def test_a_refused_value_is_400_naming_the_field(client):
    err = _error(client.post("/v1/query", json={"query": "SELECT nonsense {"}), 400, "query")
    assert err["message"].startswith("query")
    bad_iri = {"query": "SELECT ?s WHERE { ?s ?p ?o }", "bindings": {"s": {"iri": "not an iri"}}}
    err = _error(client.post("/v1/query", json=bad_iri), 400)
    assert err["field"].startswith("bindings")
