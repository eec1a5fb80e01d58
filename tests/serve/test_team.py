"""A team served like an agent: the same records (each fact naming its member), the
stream read by Team.answer from the evidence it sent, conversations, an entity's facts
from every member holding its IRI; /v1/query refused (a team has no single store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgagent.agents import Agent
from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
from kgagent.team import Team
from kgagent.workspace import init_workspace, open_kg
from tests.serve.conftest import make_client

TEAM_DATA = Path(__file__).resolve().parents[1] / "data" / "team"
FILMS_BASE = "http://films.example.org/kg/"


def _member(root: Path, name: str, file: str, base: str | None) -> Path:
    config = AgentConfig(
        name=name, retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none")
    )
    ws = init_workspace(root / name, config=config)
    with open_kg(ws) as kg:
        kg.load_triples(TEAM_DATA / file, base_iri=base)
    with Agent.open(ws) as agent:
        agent.index()
    return ws


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_team")
    members = [_member(root, "people", "people.txt", None),
               _member(root, "films", "films.txt", FILMS_BASE)]  # fmt: skip
    with Team(agents=members, workspace=root / "team", read_only=True) as t:
        yield t


def test_a_team_answers_with_each_fact_naming_its_member(team):
    c = make_client(team)
    info = c.get("/v1/info").json()
    assert info["kind"] == "team" and info["members"] == ["people", "films"]
    held = sum(len(m.agent.retriever.facts) for m in team.members)
    assert info["name"] == "team" and info["facts"] == held > 10 and info["llm"] is False
    q = "when were the films directed by Christopher Nolan released"
    rec = c.post("/v1/ask", json={"question": q}).json()
    assert sorted(rec["answers"]) == ["2010", "2014"]
    assert set(rec["agents"]) == {"people", "films"}
    assert {f["agent"] for f in rec["fact_records"]} == {"people", "films"}
    assert len(rec["graph"]["edges"]) == len(rec["fact_records"])


def test_a_team_streams_its_evidence_then_the_answer_it_reads_from_it(team):
    c = make_client(team)
    q = {"question": "who directed Titanic"}
    text = c.post("/v1/ask?stream=true", json=q).text
    events = [(b.split("\n")[0][7:], json.loads(b.split("\n")[1][6:]))
              for b in text.strip().split("\n\n")]  # fmt: skip
    assert [e for e, _ in events] == ["entities", "candidates", "answer"]
    assert events[0][1]["entities"][0]["label"] == "Titanic"
    plain = c.post("/v1/ask", json=q).json()
    assert events[2][1]["answers"] == plain["answers"] == ["James Cameron"]
    assert events[2][1]["facts"] == plain["facts"]
    ev = c.post("/v1/retrieve", json=q).json()
    assert ev["candidates"] and ev["entities"][0]["label"] == "Titanic"


def test_a_team_converses_and_shows_an_entity_with_its_member(team):
    c = make_client(team)
    cid = c.post("/v1/conversations").json()["id"]
    turn = f"/v1/conversations/{cid}/turns"
    assert c.post(turn, json={"question": "who directed Titanic"}).json()["answers"] == [
        "James Cameron"]  # fmt: skip
    follow = c.post(turn, json={"question": "what else did they direct?"}).json()
    assert follow["turn"] == 1 and follow["answers"] == ["Avatar"]
    assert follow["context"]["kind"] == "reference"
    ent = c.get("/v1/entity", params={"iri": FILMS_BASE + "entity/Titanic"}).json()
    assert ent["label"] == "Titanic" and {f["agent"] for f in ent["facts"]} == {"films"}


def test_a_team_refuses_sparql(team):
    r = make_client(team).post("/v1/query", json={"query": "ASK { ?s ?p ?o }"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "query"
    assert "team" in r.json()["error"]["message"]
