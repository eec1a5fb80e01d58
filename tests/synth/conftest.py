"""Small indexed agents for the synthesizer: the movies ontology (typed, with a
``kga:question``), the tiny delimited-triples graph (untyped), and an untyped graph with
homonyms (a genre named like a film). Hashing encoder, no LLM: indexing takes a second."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgagent.agents import Agent
from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
from kgagent.workspace import init_workspace, open_kg

MOVIES = Path(__file__).resolve().parents[2] / "ontologies" / "movies.ttl"
CONFIG = AgentConfig(retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none"))
#: a property's own question, worded so that no template could produce it
ASKED = (
    "@prefix kga: <https://kgagent.dev/vocab#> .\n"
    "@prefix mo: <https://kgagent.dev/ontology/movies#> .\n"
    'mo:directedBy kga:question "who sat in the director\'s chair for {subject}?" ;\n'
    '  kga:inverseQuestion "name a picture {object} made" .\n'
)
#: films with genres and directors, and one film titled like a genre
HOMONYMS = "\n".join(
    [
        *(f"Film {i}|has_genre|{g}" for i, g in enumerate(["Drama", "Comedy", "Horror"] * 3)),
        *(f"Film {i}|directed_by|Director {i % 4}" for i in range(9)),
        "Comedy|directed_by|Director 9",
        "Film 0|starred_actors|Actor A",
        "Film 1|starred_actors|Actor A",
        "Film 2|starred_actors|Director 1",
        "Film 3|starred_actors|Director 2",
        "Film 4|starred_actors|Director 3",
    ]
)


def _agent(root: Path, load) -> Agent:
    init_workspace(root, config=CONFIG)
    with open_kg(root) as kg:
        load(kg)
    agent = Agent.open(root)
    agent.index()
    return agent


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("movies")
    (tmp / "asked.ttl").write_text(ASKED)

    def load(kg):
        kg.load(MOVIES)
        kg.load(tmp / "asked.ttl")

    agent = _agent(tmp / "ws", load)
    yield agent
    agent.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, data_dir):
    agent = _agent(tmp_path_factory.mktemp("tiny") / "ws",
                   lambda kg: kg.load_triples(data_dir / "tiny_kb.txt"))  # fmt: skip
    yield agent
    agent.close()


@pytest.fixture(scope="module")
def homonyms(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("homonyms")
    (tmp / "kb.txt").write_text(HOMONYMS + "\n")
    agent = _agent(tmp / "ws", lambda kg: kg.load_triples(tmp / "kb.txt"))
    yield agent
    agent.close()
