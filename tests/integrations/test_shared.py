"""What the adapters share, tested without LangChain or LlamaIndex: the package imports
neither (nor torch), a missing extra says what to install, evidence maps to the same
metadata for an agent's facts and a team's, and an abstention reads as one."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from kgagent.errors import ConfigError, KGAgentError
from kgagent.integrations._shared import (
    AgentHandle,
    answer_content,
    chain_text,
    fact_item,
    items_for,
)
from kgagent.types import Answer, Candidate, Fact
from tests.integrations.conftest import FACT_KEYS, in_store


def _fact(**kw) -> Fact:
    base = dict(id=42, subject="http://x/jaws", predicate="http://x/directed_by",
                object="http://x/spielberg", subject_label="Jaws",
                predicate_label="directed by", object_label="Steven Spielberg",
                text="Jaws was directed by Steven Spielberg", score=0.5)  # fmt: skip
    return Fact(**{**base, **kw})


def test_the_package_imports_no_framework_and_no_torch():
    check = (
        "import sys, kgagent.integrations, kgagent.integrations._shared; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'langchain_core', 'llama_index')]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=120)


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        ("kgagent.integrations.langchain", "langchain_core.retrievers", "langchain"),
        ("kgagent.integrations.llama_index", "llama_index.core.retrievers", "llamaindex"),
    ],
)
def test_a_missing_extra_names_the_pip_command(monkeypatch, module, blocked, extra):
    monkeypatch.setitem(sys.modules, blocked, None)  # None in sys.modules: ImportError
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ImportError, match=rf'pip install "kgagent\[{extra}\]"'):
        importlib.import_module(module)


def test_fact_metadata_keeps_the_triple_and_a_team_members_provenance():
    one = fact_item(_fact())
    assert one.id == "42" and one.text == "Jaws was directed by Steven Spielberg"
    assert set(one.metadata) == FACT_KEYS
    assert one.metadata["fact_id"] == 42 and one.metadata["source"] == "fact"
    member = fact_item(_fact(agent="people", graph="/ws/people#abc"), score=2.0)
    assert set(member.metadata) == FACT_KEYS | {"agent", "graph"}
    assert (member.metadata["agent"], member.metadata["graph"]) == ("people", "/ws/people#abc")
    assert member.score == member.metadata["score"] == 2.0  # a team scores by candidate


def test_a_chain_reads_from_the_topic_entity_hop_by_hop():
    directed = _fact()
    starred = _fact(id=7, subject="http://x/jaws", predicate="http://x/starred",
                    object="http://x/scheider", predicate_label="starred actors",
                    object_label="Roy Scheider", text="Jaws starred Roy Scheider")  # fmt: skip
    cand = Candidate(topic="http://x/spielberg", topic_label="Steven Spielberg",
                     relations=("http://x/directed_by", "http://x/starred"),
                     inverse=(True, False), relation_labels=("directed", "starred actors"),
                     answers=(("http://x/scheider", "Roy Scheider"),), total=1,
                     support=((directed, starred),))  # fmt: skip
    assert chain_text(cand, (directed, starred)) == (
        "Steven Spielberg -directed-> Jaws -starred actors-> Roy Scheider"
    )


def test_an_agents_items_are_store_facts_then_paths(films_agent):
    items = items_for(films_agent, "Who starred in films directed by Martin Scorsese?",
                      k=4, max_paths=2)  # fmt: skip
    facts = [i for i in items if i.metadata["source"] == "fact"]
    paths = [i for i in items if i.metadata["source"] == "path"]
    assert items == facts + paths and 0 < len(facts) <= 4 and 0 < len(paths) <= 2
    assert all(in_store(films_agent.kg, i.metadata) for i in facts)
    assert len({i.id for i in items}) == len(items)  # LlamaIndex drops repeated ids


def test_a_question_is_checked_as_ask_checks_it(films_agent):
    with pytest.raises(KGAgentError, match="question: expected a string"):
        items_for(films_agent, 3, k=3, max_paths=0)
    with pytest.raises(KGAgentError, match="question: 5,000 characters"):
        items_for(films_agent, "x" * 5000, k=3, max_paths=0)
    assert items_for(films_agent, "   ", k=3, max_paths=3) == []


def test_a_bad_workspace_or_agent_is_named_where_the_adapter_is_built(tmp_path):
    with pytest.raises(ConfigError, match=str(tmp_path / "nowhere")):
        AgentHandle(workspace=tmp_path / "nowhere", agent=None)
    with pytest.raises(KGAgentError, match="give exactly one"):
        AgentHandle(workspace=None, agent=None)
    with pytest.raises(KGAgentError, match="agent: expected a kgagent Agent or Team, got str"):
        AgentHandle(workspace=None, agent="films")


def test_a_workspace_is_opened_once_and_closed_by_its_handle(films_ws):
    handle = AgentHandle(workspace=films_ws, agent=None)
    first = handle.get()
    assert handle.get() is first
    handle.close()
    again = handle.get()  # reopened after a close
    assert again is not first
    handle.close()


def test_an_abstention_says_so_first_and_citations_are_listed():
    abstained = Answer(question="q", text="I don't know: nothing supports an answer.",
                       entities=(), facts=(), paths=(), confidence=0.0, abstained=True)  # fmt: skip
    assert answer_content(abstained).startswith("Abstained. I don't know")
    cited = Answer(question="q", text="Steven Spielberg [1].", entities=(),
                   facts=(_fact(agent="people", graph="g"),), paths=(), confidence=0.9,
                   abstained=False)  # fmt: skip
    assert answer_content(cited).splitlines() == [
        "Steven Spielberg [1].",
        "",
        "Cited facts:",
        "[1] Jaws was directed by Steven Spielberg (fact 42, from people)",
    ]
