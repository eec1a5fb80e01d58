"""Agent.index / Agent.retrieve end to end on tiny data with the deterministic encoder."""

from __future__ import annotations

import json

import pytest

from kgagent.agents import Agent
from kgagent.config import AgentConfig, RetrievalConfig
from kgagent.errors import IndexMismatchError, KGAgentError
from kgagent.workspace import init_workspace, open_kg

E = "http://kgagent.local/kg/entity/"

HASHING = AgentConfig(retrieval=RetrievalConfig(encoder="hashing"))


@pytest.fixture
def ws(tmp_path, data_dir):
    root = init_workspace(tmp_path / "ws", config=HASHING)
    with open_kg(root) as kg:
        kg.load_triples(data_dir / "tiny_kb.txt")
    return root


def test_index_then_retrieve(ws):
    with Agent.open(ws) as agent:
        report = agent.index()
        assert report.facts == 8 + 3  # 8 facts + 3 "relation is a Property" facts
        assert report.encoded == report.facts
        ev = agent.retrieve("who directed Titanic", k=3)
        assert ev.entities and ev.entities[0].label == "Titanic"
        assert ev.facts[0].text == "Titanic was directed by James Cameron"
        assert ev.facts[0].subject == E + "Titanic"
        assert ev.facts[0].object_label == "James Cameron"
        assert ev.timings["total_ms"] > 0
        assert json.dumps(ev.to_dict())  # serializable


def test_index_is_incremental_and_persisted(ws, tmp_path):
    with Agent.open(ws) as agent:
        agent.index()
        vectors = ws / "index" / "vectors" / "vectors.npy"
        inode = vectors.stat().st_ino
        extra = tmp_path / "more.txt"
        extra.write_text("Dunkirk|directed_by|Christopher Nolan\n")
        agent.kg.load_triples(extra)
        report = agent.index()
        assert report.encoded == 1
        # the saved vectors were extended, not rewritten
        assert vectors.stat().st_ino == inode
        assert (ws / "index" / "vectors" / "vectors.tail.npy").exists()
        agent.kg.remove_source("more.txt")
        report = agent.index()
        assert (report.encoded, report.removed) == (0, 1)
    # a fresh process-like reopen uses the saved index
    with Agent.open(ws) as agent:
        ev = agent.retrieve("what did Christopher Nolan direct", k=5)
        top2 = {(f.subject_label, f.object_label) for f in ev.facts[:2]}
        assert top2 == {("Inception", "Christopher Nolan"), ("Interstellar", "Christopher Nolan")}


def test_multi_hop_paths(ws):
    with Agent.open(ws) as agent:
        agent.index()
        ev = agent.retrieve("which films share a director with Inception")
        assert any(p.answer == E + "Interstellar" for p in ev.paths)
        p = next(p for p in ev.paths if p.answer == E + "Interstellar")
        assert p.inverse == (False, True)
        assert "Christopher Nolan" in p.text


def test_stale_index_is_refused(ws, data_dir):
    with Agent.open(ws) as agent:
        agent.index()
        agent.kg.load(data_dir / "tiny.ttl")
    with Agent.open(ws) as agent, pytest.raises(IndexMismatchError, match="fingerprint"):
        agent.retrieve("who directed Titanic")


def test_no_index_and_bad_questions(ws):
    with Agent.open(ws) as agent:
        with pytest.raises(KGAgentError, match="kgagent index"):
            agent.retrieve("who directed Titanic")
        agent.index()
        assert agent.retrieve("").facts == ()
        assert agent.retrieve("   ").facts == ()
        ev = agent.retrieve("Кто снял Титаник?")  # another script: no crash
        assert isinstance(ev.facts, tuple)


def test_relabelled_entity_is_re_encoded(ws, tmp_path):
    with Agent.open(ws) as agent:
        agent.index()
        agent.kg.update(
            "DELETE { GRAPH ?g { ?e rdfs:label ?l } } INSERT { GRAPH ?g { ?e rdfs:label ?new } } "
            "WHERE { GRAPH ?g { ?e rdfs:label ?l } }",
            bindings={"l": "James Cameron", "new": "Jim Cameron"},
        )
        report = agent.index()
        assert report.encoded == 1  # "Titanic was directed by Jim Cameron"
        ev = agent.retrieve("who directed Titanic", k=1)
        assert ev.facts[0].text == "Titanic was directed by Jim Cameron"
