"""A tiny film graph in a real workspace: the executor runs on the agent's LocalGraph and
the compiled SPARQL on the agent's embedded store, so both read the same triples.

Years are modelled every way a graph does: entities labelled "1993" (MetaQA), one year
entity without a label (its local name is its label), ``xsd:gYear`` (one with a time
zone), ``xsd:date``, ``xsd:dateTime``; ratings as ``xsd:decimal``, ``xsd:double``, a
plain numeric string and an unparseable one; a class with a subclass; an untyped film.
"""

from __future__ import annotations

import pytest

from kgagent.agents import Agent
from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
from kgagent.programs import LocalProgramGraph
from kgagent.workspace import init_workspace, open_kg

E = "http://example.org/ent/"
R = "http://example.org/rel/"
C = "http://example.org/class/"

FILMS_TTL = """
@prefix r: <http://example.org/rel/> .
@prefix e: <http://example.org/ent/> .
@prefix c: <http://example.org/class/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

c:Film rdfs:subClassOf c:Work ; rdfs:label "film" .
c:Documentary rdfs:subClassOf c:Film ; rdfs:label "documentary" .

e:1971 r:decade e:1970s .
e:1975 rdfs:label "1975" . e:1976 rdfs:label "1976" . e:1982 rdfs:label "1982" .
e:1990 rdfs:label "1990" . e:1993 rdfs:label "1993" . e:1998 rdfs:label "1998" .
e:2006 rdfs:label "2006" .
e:weird rdfs:label "19\\"93 } ." .

e:spielberg rdfs:label "Steven Spielberg" .
e:scorsese rdfs:label "Martin Scorsese" .
e:frankenheimer rdfs:label "John Frankenheimer" .
e:de_niro rdfs:label "Robert De Niro" .
e:scheider rdfs:label "Roy Scheider" .
e:neill rdfs:label "Sam Neill" .
e:neeson rdfs:label "Liam Neeson" .
e:liotta rdfs:label "Ray Liotta" .
e:dicaprio rdfs:label "Leonardo DiCaprio" .

e:jaws a c:Film ; rdfs:label "Jaws" ; r:directed_by e:spielberg ;
    r:starred_actors e:scheider ; r:release_year e:1975 ; r:year "1975Z"^^xsd:gYear ;
    r:released "1975-06-20"^^xsd:date ; r:rating "8.1"^^xsd:decimal ;
    r:votes "600000"^^xsd:integer ; r:language "English"@en .
e:jurassic_park a c:Film ; rdfs:label "Jurassic Park" ; r:directed_by e:spielberg ;
    r:starred_actors e:neill ; r:release_year e:1993 ; r:year "1993"^^xsd:gYear ;
    r:released "1993-06-11"^^xsd:date ; r:rating "8.2"^^xsd:decimal ;
    r:votes "1000000"^^xsd:integer ; r:language "English" .
e:schindlers_list a c:Film ; rdfs:label "Schindler's List" ; r:directed_by e:spielberg ;
    r:starred_actors e:neeson ; r:release_year e:1993 ; r:year "1993"^^xsd:gYear ;
    r:released "1993-11-30"^^xsd:date ; r:rating "9.0"^^xsd:double ;
    r:language "German" .
e:et a c:Film ; rdfs:label "E.T." ; r:directed_by e:spielberg ; r:release_year e:1982 ;
    r:released "1982-06-11T10:00:00Z"^^xsd:dateTime ; r:rating "7.9" .
e:duel a c:Documentary ; rdfs:label "Duel" ; r:directed_by e:spielberg ;
    r:release_year e:1971 ; r:rating "n/a" ; r:language "19\\"93 } ." .
e:taxi_driver a c:Film ; rdfs:label "Taxi Driver" ; r:directed_by e:scorsese ;
    r:starred_actors e:de_niro ; r:release_year e:1976 ; r:released "1976-02-08"^^xsd:date .
e:goodfellas a c:Film ; rdfs:label "Goodfellas" ; r:directed_by e:scorsese ;
    r:starred_actors e:de_niro , e:liotta ; r:release_year e:1990 .
e:the_departed rdfs:label "The Departed" ; r:directed_by e:scorsese ;
    r:starred_actors e:dicaprio ; r:release_year e:2006 .
e:ronin a c:Film ; rdfs:label "Ronin" ; r:directed_by e:frankenheimer ;
    r:starred_actors e:de_niro ; r:release_year e:1998 ;
    r:released "1998-09-25"^^xsd:date .
e:mystery rdfs:label "Mystery" ; r:release_year e:weird .
"""


@pytest.fixture(scope="package")
def films(tmp_path_factory):
    """(agent, program graph) over the film graph, built once for the package."""
    root = tmp_path_factory.mktemp("programs") / "ws"
    config = AgentConfig(
        retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none")
    )
    init_workspace(root, config=config)
    path = root.parent / "films.ttl"
    path.write_text(FILMS_TTL, encoding="utf-8")
    with open_kg(root) as kg:
        kg.load(path)
    agent = Agent.open(root)
    agent.index()
    yield agent, LocalProgramGraph(agent.retriever.graph)
    agent.close()
