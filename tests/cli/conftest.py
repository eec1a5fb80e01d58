"""A tiny film graph in an indexed workspace for the conversation commands (hashing
encoder, no LLM: answers come from retrieval and the graph, in milliseconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workspaces import turtle_workspace

FILMS_TTL = """
@prefix r: <http://example.org/rel/> .
@prefix e: <http://example.org/ent/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .

e:spielberg rdfs:label "Steven Spielberg" .
e:frankenheimer rdfs:label "John Frankenheimer" .
e:scheider rdfs:label "Roy Scheider" .
e:neill rdfs:label "Sam Neill" .
e:neeson rdfs:label "Liam Neeson" .
e:de_niro rdfs:label "Robert De Niro" .

e:jaws rdfs:label "Jaws" ; r:directed_by e:spielberg ; r:starred_actors e:scheider .
e:jurassic_park rdfs:label "Jurassic Park" ; r:directed_by e:spielberg ;
    r:starred_actors e:neill .
e:schindlers_list rdfs:label "Schindler's List" ; r:directed_by e:spielberg ;
    r:starred_actors e:neeson .
e:ronin rdfs:label "Ronin" ; r:directed_by e:frankenheimer ; r:starred_actors e:de_niro .
"""


@pytest.fixture(scope="package")
def films_ws(tmp_path_factory) -> Path:
    """The workspace, built once for tests/cli (the commands only read it)."""
    return turtle_workspace(tmp_path_factory.mktemp("cli_films"), FILMS_TTL)
