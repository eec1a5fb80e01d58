"""The LangChain adapter against the real langchain-core: documents carry facts that
are in the store, the tool cites them or abstains, and both work in a chain and async.
Skipped where the ``[langchain]`` extra is not installed."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("langchain_core")

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import ToolException
from pydantic import ValidationError

from kgagent.errors import ConfigError
from kgagent.integrations.langchain import KGAgentRetriever, KGAgentTool
from tests.integrations.conftest import FACT_KEYS, in_store

MULTI_HOP = "Who starred in films directed by Martin Scorsese?"


@pytest.fixture(scope="module")
def retriever(films_ws):
    r = KGAgentRetriever(workspace=str(films_ws), k=5)
    yield r
    r.close()


@pytest.fixture(scope="module")
def tool(films_ws):
    t = KGAgentTool(workspace=films_ws)
    yield t
    t.close()


def _by_source(docs):
    facts = [d for d in docs if d.metadata["source"] == "fact"]
    return facts, [d for d in docs if d.metadata["source"] == "path"]


def test_documents_are_facts_in_the_store_with_their_triple(retriever, films_agent):
    docs = retriever.invoke("Who directed Jaws?")
    facts, _ = _by_source(docs)
    assert facts
    for d in facts:
        assert set(d.metadata) == FACT_KEYS
        assert d.id == str(d.metadata["fact_id"])
        assert in_store(films_agent.kg, d.metadata), d.metadata
    # the same facts, ids and scores as the agent's own retrieval
    ev = films_agent.retrieve("Who directed Jaws?", 5)
    assert [(d.metadata["fact_id"], d.metadata["score"]) for d in facts] == [
        (f.id, f.score) for f in ev.facts
    ]


def test_the_top_documents_answer_the_question(retriever):
    top = retriever.invoke("Who directed Jaws?")[0]
    assert top.page_content == "Jaws was directed by Steven Spielberg"
    assert (top.metadata["subject_label"], top.metadata["object_label"]) == (
        "Jaws",
        "Steven Spielberg",
    )
    films = {d.metadata["subject_label"] for d in retriever.invoke("Which films did Martin "
             "Scorsese direct?")[:2]}  # fmt: skip
    assert films == {"Taxi Driver", "Goodfellas"}


def test_k_and_max_paths_are_respected(films_ws):
    for k, max_paths in ((1, 0), (2, 1), (5, 2)):
        r = KGAgentRetriever(workspace=films_ws, k=k, max_paths=max_paths)
        facts, paths = _by_source(r.invoke(MULTI_HOP))
        # fewer than k where the question's neighbourhood holds fewer facts
        assert 1 <= len(facts) <= k and len(paths) == max_paths
        r.close()


def test_paths_are_documents_citing_store_facts(retriever, films_agent):
    _, paths = _by_source(retriever.invoke(MULTI_HOP))
    assert paths
    known = set(films_agent.retriever.facts.ids.tolist())
    for d in paths:
        assert d.id.startswith("path:") and len(d.metadata["fact_ids"]) >= 1
        assert set(d.metadata["fact_ids"]) <= known
    # the answer chains ask reads, written as Answer.paths writes them
    chain = "Martin Scorsese -directed-> Goodfellas -starred actors-> Ray Liotta"
    assert chain in [d.page_content for d in paths]
    cited = {p.text for p in films_agent.ask(MULTI_HOP).paths}
    assert chain in cited and cited <= {d.page_content for d in paths}


def test_async_invoke_returns_what_invoke_does(retriever):
    async def both():
        return await asyncio.gather(
            retriever.ainvoke("Who directed Jaws?"), retriever.ainvoke(MULTI_HOP)
        )

    jaws, multi = asyncio.run(both())
    assert jaws == retriever.invoke("Who directed Jaws?")
    assert multi == retriever.invoke(MULTI_HOP)


def test_the_retriever_composes_in_a_chain(retriever):
    chain = retriever | RunnableLambda(lambda docs: "\n".join(d.page_content for d in docs))
    assert chain.invoke("Who directed Jaws?").startswith("Jaws was directed by Steven Spielberg")


def test_an_open_agent_is_used_and_left_open(films_agent):
    r = KGAgentRetriever(agent=films_agent, k=2, max_paths=0)
    assert len(r.invoke("Who directed Jaws?")) == 2
    r.close()
    assert films_agent.retrieve("Who directed Jaws?", 1).facts  # still open


def test_bad_arguments_fail_naming_what_is_wrong(tmp_path):
    with pytest.raises(ConfigError, match=str(tmp_path)):
        KGAgentRetriever(workspace=tmp_path)
    with pytest.raises(ValidationError, match="k"):
        KGAgentRetriever(workspace=tmp_path, k=0)
    with pytest.raises(ConfigError, match=str(tmp_path)):
        KGAgentTool(workspace=tmp_path)


def test_team_documents_carry_their_member_and_graph(team, team_members):
    r = KGAgentRetriever(agent=team, k=6)
    facts, paths = _by_source(r.invoke("what genres are the films directed by Christopher Nolan"))
    graphs = {m.name: m.graph for m in team.members}
    assert {d.metadata["agent"] for d in facts} == {"people", "films"}
    for d in facts:
        assert d.metadata["graph"] == graphs[d.metadata["agent"]]
        assert in_store(team_members[d.metadata["agent"]].kg, d.metadata), d.metadata
    chains = {d.page_content: d.metadata["agents"] for d in paths}
    chain = "Christopher Nolan -directed-> Inception -has genre-> Science Fiction"
    assert chains[chain] == ["people", "films"]  # one chain across two members' graphs


def test_the_tool_answers_citing_facts(tool, films_agent):
    content = tool.invoke({"question": "Who directed Jaws?"})
    assert content.splitlines()[0].startswith("Steven Spielberg [1]")
    fact = films_agent.ask("Who directed Jaws?").facts[0]
    assert f"[1] Jaws was directed by Steven Spielberg (fact {fact.id})" in content
    assert tool.name == "kgagent" and "knowledge graph" in tool.description


def test_the_tool_says_abstained_and_returns_the_answer_record(tool):
    call = {"name": "kgagent", "args": {"question": "What is the capital of Mongolia?"},
            "id": "call-1", "type": "tool_call"}  # fmt: skip
    msg = tool.invoke(call)
    assert isinstance(msg, ToolMessage) and msg.tool_call_id == "call-1"
    assert msg.content.startswith("Abstained.")
    assert msg.artifact["abstained"] is True and msg.artifact["answers"] == []
    cited = tool.invoke({**call, "args": {"question": "Who directed Jaws?"}})
    assert cited.artifact["answers"] == ["Steven Spielberg"] and cited.artifact["facts"]


def test_the_tool_works_async_and_refuses_a_bad_question(tool):
    content = asyncio.run(tool.ainvoke({"question": "Who directed Jaws?"}))
    assert content.startswith("Steven Spielberg")
    with pytest.raises(ToolException, match=r"question: .* characters"):
        tool.invoke({"question": "x" * 5000})


def test_the_tool_cites_a_team_members_facts(team):
    t = KGAgentTool(agent=team)
    content = t.invoke({"question": "who directed Titanic"})
    assert "James Cameron" in content and "from people)" in content
