"""Real workspaces for the framework adapters: a small film graph (hashing encoder, no
LLM: the rule reader answers) and a two-member team over tests/data/team, each built
once per test module.

``in_store`` checks a document's metadata against the store it names, the test every
adapter's facts must pass: a cited triple that is not in the graph is a made-up fact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rdflib import Literal, URIRef

from kgagent.agents import Agent
from kgagent.workspace import init_workspace, open_kg
from tests.workspaces import tiny_config, turtle_workspace

TEAM_DATA = Path(__file__).resolve().parents[1] / "data" / "team"

FILMS_TTL = """
@prefix r: <http://example.org/rel/> .
@prefix e: <http://example.org/ent/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

e:spielberg rdfs:label "Steven Spielberg" .
e:scorsese rdfs:label "Martin Scorsese" .
e:scheider rdfs:label "Roy Scheider" .
e:neill rdfs:label "Sam Neill" .
e:de_niro rdfs:label "Robert De Niro" .
e:liotta rdfs:label "Ray Liotta" .
e:1975 rdfs:label "1975" . e:1976 rdfs:label "1976" . e:1990 rdfs:label "1990" .
e:1993 rdfs:label "1993" .

e:jaws rdfs:label "Jaws" ; r:directed_by e:spielberg ; r:starred_actors e:scheider ;
    r:release_year e:1975 ; r:released "1975-06-20"^^xsd:date ; r:language "English"@en .
e:jurassic_park rdfs:label "Jurassic Park" ; r:directed_by e:spielberg ;
    r:starred_actors e:neill ; r:release_year e:1993 ; r:rating "8.2"^^xsd:decimal .
e:taxi_driver rdfs:label "Taxi Driver" ; r:directed_by e:scorsese ;
    r:starred_actors e:de_niro ; r:release_year e:1976 .
e:goodfellas rdfs:label "Goodfellas" ; r:directed_by e:scorsese ;
    r:starred_actors e:de_niro , e:liotta ; r:release_year e:1990 .
"""

#: the keys of a fact's metadata (a team member's adds agent and graph)
FACT_KEYS = {"source", "fact_id", "subject", "predicate", "object", "object_is_literal",
             "subject_label", "predicate_label", "object_label", "score"}  # fmt: skip


_config = tiny_config


def in_store(kg: Any, meta: dict[str, Any]) -> bool:
    """Whether the triple a fact's metadata names is in ``kg`` (a literal object by its
    lexical form, whatever its datatype or language)."""
    s, p = URIRef(meta["subject"]), URIRef(meta["predicate"])
    if meta["object_is_literal"]:
        q = "ASK { ?s ?p ?o FILTER(isLiteral(?o) && str(?o) = ?lex) }"
        return bool(kg.query(q, {"s": s, "p": p, "lex": Literal(meta["object"])}))
    return bool(kg.query("ASK { ?s ?p ?o }", {"s": s, "p": p, "o": URIRef(meta["object"])}))


@pytest.fixture(scope="module")
def films_ws(tmp_path_factory) -> Path:
    """The film graph's workspace, indexed (closed: each test opens it as it needs)."""
    return turtle_workspace(tmp_path_factory.mktemp("films"), FILMS_TTL, name="films")


@pytest.fixture(scope="module")
def films_agent(films_ws):
    """An agent on the film workspace, open read-only beside the adapters' own."""
    agent = Agent.open(films_ws, read_only=True)
    yield agent
    agent.close()


@pytest.fixture(scope="module")
def team_members(tmp_path_factory) -> dict[str, Agent]:
    """Two members whose graphs meet by label: people (who directed and starred in what)
    and films (years and genres, under IRIs of its own)."""
    root = tmp_path_factory.mktemp("team")
    agents = {}
    for name, file, base in (("people", "people.txt", None),
                             ("films", "films.txt", "http://films.example.org/kg/")):  # fmt: skip
        ws = init_workspace(root / name, config=_config(name))
        with open_kg(ws) as kg:
            kg.load_triples(TEAM_DATA / file, base_iri=base)
        agents[name] = Agent.open(ws)
        agents[name].index()
    yield agents
    for agent in agents.values():
        agent.close()


@pytest.fixture(scope="module")
def team(team_members):
    """The two members as a team that reads by its policy's prior (no LLM)."""
    from kgagent.team import Team

    with Team(agents=list(team_members.values()), llm=None) as t:
        yield t
