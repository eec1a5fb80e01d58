"""What the service asks: one Agent or one Team behind the same small interface.

The endpoints never ask which of the two they hold; the differences live here, once:
a team has no single store to run SPARQL on (``/v1/query`` is refused), its evidence
carries candidates but no ranked facts (``/v1/retrieve``), and its entities' facts are
gathered from every member that holds them, each stamped with the member and graph.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from kgagent import __version__
from kgagent.serve.errors import ServeError
from kgagent.serve.query import run_query
from kgagent.text import MAX_QUESTION_CHARS, clean_question
from kgagent.types import Answer, Evidence, Fact

__all__ = ["AgentTarget", "TeamTarget", "serve_target"]


class AgentTarget:
    """One :class:`~kgagent.agents.Agent` (its ``ask`` / ``ask_batch`` are thread-safe)."""

    kind = "agent"

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.name = agent.config.name
        self.max_question_chars = int(agent.config.qa.max_question_chars)

    def info(self) -> dict[str, Any]:
        r = self.agent.retriever  # loads the index now: a broken one fails at start-up
        return {"kind": self.kind, "name": self.name, "entities": len(r.entity_terms),
                "facts": len(r.facts), "relations": len(r.relation_terms),
                "llm": bool(self.agent.has_llm), "version": __version__}  # fmt: skip

    def ask(self, question: str) -> Answer:
        return self.agent.ask(question)

    def ask_batch(self, questions: Sequence[str]) -> list[Answer]:
        return self.agent.ask_batch(list(questions))

    def evidence(self, question: str) -> Evidence:
        """The linked entities and candidates ``ask`` would read (the stream's first
        events); :meth:`answer` reads them without retrieving again."""
        q = clean_question(question, max_chars=self.max_question_chars)
        return self.agent.retriever.evidence([q])[0]  # no fact ranking: ask reads none

    def answer(self, evidence: Evidence) -> Answer:
        return self.agent.answer([evidence])[0]

    def retrieve(self, question: str, k: int | None) -> Evidence:
        q = clean_question(question, max_chars=self.max_question_chars)
        return self.agent.retrieve(q, k, candidates=True)

    def conversation(self):
        return self.agent.conversation()

    def query(self, text: str, bindings: Mapping[str, Any], *, rows: int) -> dict[str, Any]:
        return run_query(self.agent.kg, text, bindings, rows=rows)

    def entity(self, iri: str, limit: int) -> tuple[str, list[Fact], int] | None:
        """(label, the first ``limit`` facts the entity takes part in, how many more);
        None for an IRI the graph does not hold."""
        return _entity_facts([(None, None, self.agent)], iri, limit)


class TeamTarget:
    """One :class:`~kgagent.team.Team` over its members' graphs."""

    kind = "team"

    def __init__(self, team: Any) -> None:
        self.team = team
        self.name = team.workspace.name if team.workspace is not None else "team"
        limit = team.settings.get("max_question_chars") or MAX_QUESTION_CHARS
        self.max_question_chars = int(limit)

    def _local(self) -> list[tuple[str, str, Any]]:
        """(name, graph, agent) of the members held in this process (a Ray actor's
        agent lives elsewhere)."""
        return [(m.name, m.graph, m.agent) for m in self.team.members
                if getattr(m, "agent", None) is not None]  # fmt: skip

    def info(self) -> dict[str, Any]:
        fed = self.team.federation
        facts = sum(len(agent.retriever.facts) for _, _, agent in self._local())
        return {"kind": self.kind, "name": self.name, "entities": int(fed.num_entities),
                "facts": facts, "relations": len(fed.relation_terms),
                "members": list(self.team.names), "llm": self.team.llm is not None,
                "version": __version__}  # fmt: skip

    def ask(self, question: str) -> Answer:
        return self.team.ask(question)

    def ask_batch(self, questions: Sequence[str]) -> list[Answer]:
        return self.team.ask_batch(list(questions))

    def evidence(self, question: str) -> Evidence:
        q = clean_question(question, max_chars=self.max_question_chars)
        return self.team.evidence([q])[0]

    def answer(self, evidence: Evidence) -> Answer:
        return self.team.answer([evidence])[0]

    def retrieve(self, question: str, k: int | None) -> Evidence:
        """A team's evidence: linked entities and candidates (``k`` ranks facts, which a
        team does not: its facts come with the candidates)."""
        return self.evidence(question)

    def conversation(self):
        return self.team.conversation()

    def query(self, text: str, bindings: Mapping[str, Any], *, rows: int) -> dict[str, Any]:
        raise ServeError(
            "query: a team has no single store to run SPARQL on; serve a member's "
            "workspace (`kgagent serve MEMBER_WS`) to query its graph",
            field="query",
        )

    def entity(self, iri: str, limit: int) -> tuple[str, list[Fact], int] | None:
        return _entity_facts(self._local(), iri, limit)


def _entity_facts(
    holders: Sequence[tuple[str | None, str | None, Any]], iri: str, limit: int
) -> tuple[str, list[Fact], int] | None:
    """The facts ``iri`` takes part in (either side) in each holder's fact table, a team
    member's stamped with its name and graph."""
    term = f"<{iri}>"
    label = None
    facts: list[Fact] = []
    total = 0
    for name, graph, agent in holders:
        r = agent.retriever
        rows = r.facts.rows_touching(term)
        if len(rows) == 0 and term not in r.entity_id:
            continue
        label = label or r.label(iri)
        total += len(rows)
        for row in rows[: max(0, limit - len(facts))].tolist():
            f = r.facts.fact(int(row), labels=r.label)
            facts.append(f if name is None else dataclasses.replace(f, agent=name, graph=graph))
    if label is None:
        return None
    return label, facts, total - len(facts)


def serve_target(target: Any) -> AgentTarget | TeamTarget:
    """The adapter of an Agent or a Team (anything else is refused)."""
    from kgagent.agents import Agent
    from kgagent.team import Team

    if isinstance(target, Team):
        return TeamTarget(target)
    if isinstance(target, Agent):
        return AgentTarget(target)
    raise TypeError(f"serve an Agent or a Team, not {type(target).__name__}")
