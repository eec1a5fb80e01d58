"""Every endpoint's happy path, and the records: an AskRecord is the record `kgagent ask
--out` writes plus fact_records and graph; a stream sends entities, candidates, then
the answer `ask` gives; a follow-up is resolved through /v1/conversations."""

from __future__ import annotations

import json

from kgagent.serve.records import ask_record
from tests.serve.conftest import make_client

E = "http://example.org/ent/"


def _events(text: str) -> list[tuple[str, dict]]:
    """(event, data) of a text/event-stream body."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def _stable(record: dict) -> dict:
    """A record without its timings (the only part that differs between two asks)."""
    return {k: v for k, v in record.items() if k not in ("latency_ms", "timings")}


def test_ask_returns_the_record_of_kgagent_ask_plus_fact_records_and_graph(client, agent):
    r = client.post("/v1/ask", json={"question": "Who directed Jaws?"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    rec = r.json()
    assert _stable(rec) == _stable(ask_record(agent.ask("Who directed Jaws?")))
    expected = agent.ask("Who directed Jaws?").to_dict()
    assert {k: rec[k] for k in expected if k not in ("latency_ms", "timings")} == _stable(expected)
    assert rec["answers"] == ["Steven Spielberg"] and rec["text"] == "Steven Spielberg [1]."
    (fact,) = rec["fact_records"]
    assert fact == {
        "n": 1, "id": str(rec["facts"][0]["id"]), "subject": E + "jaws", "subject_label": "Jaws",
        "predicate": "http://example.org/rel/directed_by", "predicate_label": "directed by",
        "object": E + "spielberg", "object_label": "Steven Spielberg",
        "object_is_literal": False, "text": "Jaws was directed by Steven Spielberg",
    }  # fmt: skip
    assert rec["graph"] == {
        "nodes": [{"id": E + "jaws", "label": "Jaws", "role": "topic"},
                  {"id": E + "spielberg", "label": "Steven Spielberg", "role": "answer"}],
        "edges": [{"source": E + "jaws", "target": E + "spielberg", "label": "directed by",
                   "fact": 1}],
    }  # fmt: skip


def test_a_count_graph_marks_the_program_topic_and_literal_values(client):
    rec = client.post("/v1/ask", json={"question": "How many films did Steven Spielberg direct?"})
    rec = rec.json()
    assert rec["kind"] == "number" and rec["answers"] == ["5"]
    roles = {n["id"]: n["role"] for n in rec["graph"]["nodes"]}
    assert roles[E + "spielberg"] == "topic"  # the program's chain topic
    assert sorted(e["fact"] for e in rec["graph"]["edges"]) == [1, 2, 3, 4, 5]
    value = client.post("/v1/ask", json={"question": "What is the rating of Jaws?"}).json()
    nodes = {n["id"]: n for n in value["graph"]["nodes"]}
    literal = [n for n in nodes.values() if n["id"].startswith("literal:")]
    assert literal and all(n["role"] in ("answer", "value") for n in literal)
    assert [f["object_is_literal"] for f in value["fact_records"]] == [True] * len(literal)


def test_stream_sends_entities_candidates_then_the_answer_ask_gives(client):
    r = client.post("/v1/ask?stream=true", json={"question": "Who directed Jaws?"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert [e for e, _ in events] == ["entities", "candidates", "answer"]
    (ent,) = events[0][1]["entities"]
    assert ent["iri"] == E + "jaws" and ent["label"] == "Jaws" and ent["mention"] == "Jaws"
    assert 0 < ent["score"] <= 1
    cands = events[1][1]["candidates"]
    assert 0 < len(cands) <= 10
    best = {"topic_label": "Jaws", "relation_labels": ["directed by"],
            "answers": ["Steven Spielberg"], "total": 1, "score": cands[0]["score"]}  # fmt: skip
    assert cands[0] == best
    assert all(len(c["answers"]) <= 10 for c in cands)
    assert [c["score"] for c in cands] == sorted((c["score"] for c in cands), reverse=True)
    plain = client.post("/v1/ask", json={"question": "Who directed Jaws?"}).json()
    assert _stable(events[2][1]) == _stable(plain)


def test_stream_of_a_typed_question_reads_the_same_program(client):
    q = {"question": "How many films did Steven Spielberg direct?"}
    events = _events(client.post("/v1/ask", params={"stream": "true"}, json=q).text)
    assert _stable(events[-1][1]) == _stable(client.post("/v1/ask", json=q).json())


def test_ask_batch_answers_in_order_as_single_asks(client):
    qs = ["Who directed Jaws?", "Who directed Ronin?", "Who starred in Goodfellas?"]
    r = client.post("/v1/ask_batch", json={"questions": qs})
    assert r.status_code == 200
    got = r.json()["answers"]
    assert [a["question"] for a in got] == qs
    singles = [client.post("/v1/ask", json={"question": q}).json() for q in qs]
    assert [_stable(a) for a in got] == [_stable(a) for a in singles]
    assert client.post("/v1/ask_batch", json={"questions": []}).json() == {"answers": []}


def test_retrieve_returns_the_evidence_with_candidates(client):
    r = client.post("/v1/retrieve", json={"question": "Who directed Jaws?", "k": 3})
    assert r.status_code == 200
    ev = r.json()
    assert set(ev) == {"question", "facts", "paths", "entities", "timings", "candidates"}
    assert len(ev["facts"]) == 3 and ev["entities"][0]["iri"] == E + "jaws"
    assert ev["candidates"] and E + "spielberg" in ev["candidates"][0]["answers"]


def test_a_follow_up_is_resolved_through_a_conversation(client):
    r = client.post("/v1/conversations")
    assert r.status_code == 201
    cid = r.json()["id"]
    assert len(cid) >= 20  # 128 random bits
    first = client.post(f"/v1/conversations/{cid}/turns", json={"question": "Who directed Jaws?"})
    assert first.status_code == 200
    first = first.json()
    assert first["turn"] == 0 and first["context"] is None
    assert first["answers"] == ["Steven Spielberg"] and first["fact_records"]
    second = client.post(f"/v1/conversations/{cid}/turns",
                         json={"question": "What else did they direct?"}).json()  # fmt: skip
    assert second["turn"] == 1
    assert second["context"]["kind"] == "reference"
    assert second["context"]["asked"] == ["What else did Steven Spielberg direct?"]
    assert sorted(second["answers"]) == ["Duel", "E.T.", "Jurassic Park", "Schindler's List"]
    got = client.get(f"/v1/conversations/{cid}").json()
    assert got == {"id": cid, "turns": [
        {"question": "Who directed Jaws?", "asked": "Who directed Jaws?", "kind": "first"},
        {"question": "What else did they direct?",
         "asked": "What else did Steven Spielberg direct?", "kind": "reference"}]}  # fmt: skip
    # a new conversation starts afresh; `{}` is a body too
    other = client.post("/v1/conversations", json={}).json()["id"]
    assert other != cid
    alone = client.post(f"/v1/conversations/{other}/turns",
                        json={"question": "What else did they direct?"}).json()  # fmt: skip
    assert alone["turn"] == 0 and alone["context"] is None
    assert client.delete(f"/v1/conversations/{cid}").status_code == 204
    assert client.get(f"/v1/conversations/{cid}").status_code == 404


def test_entity_lists_the_facts_it_takes_part_in_capped_by_limit(client):
    r = client.get("/v1/entity", params={"iri": E + "spielberg"})
    assert r.status_code == 200
    body = r.json()
    assert body["iri"] == E + "spielberg" and body["label"] == "Steven Spielberg"
    assert body["more"] == 0 and len(body["facts"]) == 5  # five films, either side
    assert {f["subject_label"] for f in body["facts"]} == {
        "Jaws", "Jurassic Park", "Schindler's List", "E.T.", "Duel"}  # fmt: skip
    assert [f["n"] for f in body["facts"]] == [1, 2, 3, 4, 5]
    capped = client.get("/v1/entity", params={"iri": E + "spielberg", "limit": 2}).json()
    assert len(capped["facts"]) == 2 and capped["more"] == 3


def test_info_health_page_and_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    info = client.get("/v1/info").json()
    assert info["kind"] == "agent" and info["name"] == "films" and info["llm"] is False
    assert info["entities"] > 10 and info["facts"] > 20 and info["relations"] >= 5
    assert "members" not in info and info["version"]
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/v1/ask", "/v1/ask_batch", "/v1/retrieve", "/v1/conversations",
              "/v1/conversations/{cid}/turns", "/v1/conversations/{cid}", "/v1/query",
              "/v1/entity", "/v1/info", "/healthz", "/metrics"):  # fmt: skip
        assert p in paths, p
    assert "question" in json.dumps(paths["/v1/ask"])
    assert client.get("/docs").status_code == 200


def test_static_files_are_served_and_a_missing_page_is_a_json_404(agent, tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>t</title>", encoding="utf-8")
    (tmp_path / "app.js").write_text("console.log(1)", encoding="utf-8")
    c = make_client(agent, static_dir=tmp_path)
    page = c.get("/")
    assert page.text == "<!doctype html><title>t</title>"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert c.get("/static/app.js").text == "console.log(1)"
    missing = c.get("/static/nope.js")
    assert missing.status_code == 404 and missing.json()["error"]["status"] == 404
    bare = make_client(agent, static_dir=tmp_path / "none")
    r = bare.get("/")
    assert r.status_code == 404 and "index.html" in r.json()["error"]["message"]


def test_a_question_of_blanks_is_refused_naming_the_field(client):
    r = client.post("/v1/ask", json={"question": "   "})
    assert r.status_code == 422 and r.json()["error"]["field"] == "question"


def test_the_api_docs_work_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "/docs-assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    script = client.get("/docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert client.get("/openapi.json").json()["info"]["title"] == "kgagent"
