"""Typed questions through ``Agent.ask`` and ``kgagent ask``: a typed answer (``kind``),
its facts cited, and the SPARQL that returns the same answer from the store."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kgagent.agents import Agent
from kgagent.cli import app
from kgagent.config import AgentConfig, LLMConfig, QAConfig, RetrievalConfig
from kgagent.testing import assert_grounded
from kgagent.workspace import init_workspace, open_kg
from tests.programs.conftest import FILMS_TTL


def _same_from_store(agent, answer) -> None:
    """The query the answer carries, run on the store, gives the same answer (and every
    fact it cites is in the store)."""
    assert_grounded(answer, agent)
    result = agent.kg.query(answer.sparql)
    if answer.kind == "number":
        assert str(int(next(iter(result))[0].toPython())) == answer.labels[0]
    elif answer.kind == "boolean":
        assert ("yes" if result.askAnswer else "no") == answer.labels[0]
    else:
        assert {str(r[0]) for r in result} == {e.iri for e in answer.entities}


def test_a_count_is_a_number_citing_the_counted_facts(films):
    agent, _ = films
    a = agent.ask("How many films did Steven Spielberg direct?")
    assert (a.kind, a.labels, a.abstained) == ("number", ["5"], False)
    assert a.text.startswith("5")
    assert len(a.facts) == 5 and all("spielberg" in f.object for f in a.facts)
    assert "COUNT" in a.sparql
    _same_from_store(agent, a)
    record = a.to_dict()
    assert (record["kind"], record["answers"]) == ("number", ["5"])
    assert record["sparql"] == a.sparql


def test_yes_no_and_two_constraints(films):
    agent, _ = films
    yes = agent.ask("Did Martin Scorsese direct Goodfellas?")
    assert (yes.kind, yes.labels) == ("boolean", ["yes"])
    assert yes.facts
    _same_from_store(agent, yes)
    both = agent.ask("Which films directed by Martin Scorsese star Robert De Niro?")
    assert both.kind == "entities"
    assert set(both.labels) == {"Taxi Driver", "Goodfellas"}
    _same_from_store(agent, both)


def test_a_chain_question_is_read_as_before_without_a_query(films):
    agent, _ = films
    a = agent.ask("Who directed Jaws?")
    assert (a.kind, a.sparql) == ("entities", None)
    assert a.labels[:1] == ["Steven Spielberg"]
    assert "sparql" not in a.to_dict()


def test_a_class_on_the_way_is_not_the_kind_asked_for(films):
    """The graph types films, not people: "who ... films ..." still asks for people, so
    the two-hop chain through the films wins over the one that stops at them."""
    agent, _ = films
    a = agent.ask("Who starred in films directed by Martin Scorsese?")
    assert "Leonardo DiCaprio" in a.labels
    assert "Taxi Driver" not in a.labels


def test_programs_can_be_switched_off(films):
    agent, _ = films
    before = agent.config
    agent.config = before.model_copy(update={"qa": QAConfig(programs=False)})
    try:
        a = agent.ask("How many films did Steven Spielberg direct?")
    finally:
        agent.config = before
    assert a.kind == "entities" and a.sparql is None


def test_cli_shows_the_sparql_and_writes_kind(tmp_path):
    ws = tmp_path / "ws"  # its own workspace: the fixture's agent holds its store open
    config = AgentConfig(
        retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none")
    )
    init_workspace(ws, config=config)
    (tmp_path / "films.ttl").write_text(FILMS_TTL, encoding="utf-8")
    with open_kg(ws) as kg:
        kg.load(tmp_path / "films.ttl")
    with Agent.open(ws) as agent:
        agent.index()
    runner = CliRunner()
    r = runner.invoke(app, ["ask", str(ws), "How many films did Steven Spielberg direct?",
                            "--show-sparql"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "COUNT" in r.output and r.output.lstrip().startswith("5")
    out = tmp_path / "a.jsonl"
    r = runner.invoke(app, ["ask", str(ws), "Did Martin Scorsese direct Goodfellas?",
                            "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    record = json.loads(out.read_text())
    assert (record["kind"], record["answers"]) == ("boolean", ["yes"])


def test_concurrent_typed_asks_equal_sequential(films):
    """Value tables and caches are built on first use: threads asking at once must
    agree with one thread asking alone."""
    from concurrent.futures import ThreadPoolExecutor

    agent, _ = films
    qs = [
        "How many films did Steven Spielberg direct?",
        "Did Martin Scorsese direct Goodfellas?",
        "Which films directed by Martin Scorsese star Robert De Niro?",
        "Who directed Jaws?",
    ] * 4
    alone = [agent.ask(q).to_dict()["answers"] for q in qs]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: agent.ask(q).to_dict()["answers"], qs))
    assert together == alone
