"""The LlamaIndex adapter against the real llama-index-core: scored nodes whose ids are
fact ids and whose metadata names a triple in the store. Skipped where the
``[llamaindex]`` extra is not installed."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from kgagent.errors import ConfigError, KGAgentError
from kgagent.integrations.llama_index import KGAgentRetriever
from tests.integrations.conftest import FACT_KEYS, in_store

MULTI_HOP = "Who starred in films directed by Martin Scorsese?"


@pytest.fixture(scope="module")
def retriever(films_ws):
    r = KGAgentRetriever(workspace=films_ws, k=5)
    yield r
    r.close()


def _by_source(nodes):
    facts = [n for n in nodes if n.node.metadata["source"] == "fact"]
    return facts, [n for n in nodes if n.node.metadata["source"] == "path"]


def test_nodes_are_scored_store_facts_with_their_triple(retriever, films_agent):
    nodes = retriever.retrieve("Who directed Jaws?")
    facts, _ = _by_source(nodes)
    assert facts and all(isinstance(n, NodeWithScore) for n in nodes)
    for n in facts:
        assert isinstance(n.node, TextNode) and set(n.node.metadata) == FACT_KEYS
        assert n.node.node_id == str(n.node.metadata["fact_id"])
        assert n.score == n.node.metadata["score"]
        assert in_store(films_agent.kg, n.node.metadata), n.node.metadata
    assert facts[0].node.text == "Jaws was directed by Steven Spielberg"
    ev = films_agent.retrieve("Who directed Jaws?", 5)
    assert [n.node.node_id for n in facts] == [str(f.id) for f in ev.facts]


def test_an_llm_reads_the_fact_not_its_metadata(retriever):
    node = retriever.retrieve("Who directed Jaws?")[0].node
    for mode in (MetadataMode.LLM, MetadataMode.EMBED):
        assert node.get_content(metadata_mode=mode) == "Jaws was directed by Steven Spielberg"


def test_k_max_paths_and_paths(films_ws, films_agent):
    r = KGAgentRetriever(workspace=films_ws, k=2, max_paths=2)
    facts, paths = _by_source(r.retrieve(MULTI_HOP))
    assert 1 <= len(facts) <= 2 and len(paths) == 2
    known = set(films_agent.retriever.facts.ids.tolist())
    assert all(set(n.node.metadata["fact_ids"]) <= known for n in paths)
    r.close()
    only = KGAgentRetriever(agent=films_agent, k=1, max_paths=0).retrieve("Who directed Jaws?")
    assert len(only) == 1


def test_async_retrieve_returns_what_retrieve_does(retriever):
    async def both():
        return await asyncio.gather(
            retriever.aretrieve("Who directed Jaws?"), retriever.aretrieve(MULTI_HOP)
        )

    jaws, multi = asyncio.run(both())
    assert [n.node.node_id for n in jaws] == [
        n.node.node_id for n in retriever.retrieve("Who directed Jaws?")
    ]
    assert [n.score for n in multi] == [n.score for n in retriever.retrieve(MULTI_HOP)]


def test_team_nodes_carry_their_member_and_graph(team, team_members):
    r = KGAgentRetriever(agent=team, k=6)
    facts, paths = _by_source(r.retrieve("what genres are the films directed by Christopher Nolan"))
    graphs = {m.name: m.graph for m in team.members}
    assert {n.node.metadata["agent"] for n in facts} == {"people", "films"}
    for n in facts:
        meta = n.node.metadata
        assert meta["graph"] == graphs[meta["agent"]]
        assert in_store(team_members[meta["agent"]].kg, meta), meta
    assert any(n.node.metadata["agents"] == ["people", "films"] for n in paths)


def test_bad_arguments_fail_naming_what_is_wrong(tmp_path, films_ws):
    with pytest.raises(ConfigError, match=str(tmp_path)):
        KGAgentRetriever(workspace=tmp_path)
    with pytest.raises(KGAgentError, match="k must be >= 1"):
        KGAgentRetriever(workspace=films_ws, k=0)
