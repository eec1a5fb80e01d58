"""What the LangChain and LlamaIndex adapters share, free of both frameworks.

Opening the agent, mapping evidence to (text, id, score, metadata) and writing an answer
as a tool's text live here once, so a fact carries the same metadata whichever framework
wraps it, and the mapping is tested without either installed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgagent.errors import KGAgentError
from kgagent.text import MAX_QUESTION_CHARS, clean_question
from kgagent.types import Answer, Candidate, Fact

__all__ = [
    "AgentHandle",
    "Item",
    "answer_content",
    "chain_text",
    "fact_item",
    "items_for",
    "missing_extra",
    "path_item",
]


def missing_extra(module: str, extra: str) -> ImportError:
    """The ImportError of an adapter whose framework is not installed: it says which
    extra to install, where the bare error would name only a module the user never
    imported."""
    return ImportError(
        f"{module} needs the optional dependencies of kgagent[{extra}]: "
        f'pip install "kgagent[{extra}]"'
    )


@dataclass(frozen=True)
class Item:
    """One retrieved piece of evidence, before a framework wraps it.

    Attributes:
        text: what a model reads (the verbalized fact, or the path).
        id: unique among one question's items (a fact's id as a string; a path's
            ``path:`` and its fact ids), as LlamaIndex deduplicates nodes by id.
        score: the retrieval score (higher is better; a team's: its candidate's).
        metadata: see :func:`fact_item` and :func:`path_item`.
    """

    text: str
    id: str
    score: float
    metadata: dict[str, Any]


def fact_item(fact: Fact, score: float | None = None) -> Item:
    """A fact with its triple and provenance as metadata: ``source`` ("fact"),
    ``fact_id``, ``subject``, ``predicate``, ``object``, ``object_is_literal``, the three
    labels, ``score``, and ``agent`` / ``graph`` for a team member's fact (so a citation
    can be checked against the store that holds it)."""
    score = float(fact.score if score is None else score)
    meta: dict[str, Any] = {
        "source": "fact",
        "fact_id": fact.id,
        "subject": fact.subject,
        "predicate": fact.predicate,
        "object": fact.object,
        "object_is_literal": fact.object_is_literal,
        "subject_label": fact.subject_label,
        "predicate_label": fact.predicate_label,
        "object_label": fact.object_label,
        "score": score,
    }
    if fact.agent is not None:
        meta["agent"], meta["graph"] = fact.agent, fact.graph
    return Item(fact.text, str(fact.id), score, meta)


def path_item(text: str, facts: Sequence[Fact], score: float) -> Item:
    """A chain of facts (a multi-hop answer's support) as one item: ``source`` ("path"),
    ``fact_ids`` (in walking order), ``score``, and ``agents`` when team members hold
    them."""
    ids = [f.id for f in facts]
    meta: dict[str, Any] = {"source": "path", "fact_ids": ids, "score": float(score)}
    agents = list(dict.fromkeys(f.agent for f in facts if f.agent is not None))
    if agents:
        meta["agents"] = agents
    return Item(text, "path:" + "-".join(map(str, ids)), float(score), meta)


def chain_text(candidate: Candidate, support: Sequence[Fact]) -> str:
    """A support chain as ``Answer.paths`` writes it (``Wall Street -directed by->
    Oliver Stone -directed-> Platoon``), by the reader's own function, so a retrieved path
    and a cited one read the same."""
    from kgagent.llm.reader import path_text

    return path_text(candidate, support)


def _chains(candidates: Sequence[Candidate], max_paths: int) -> list[Item]:
    """The multi-hop answers' support chains, in the pipeline's candidate order (the
    chains ``ask`` reads, the path policy's first), each at most once; as in
    ``Answer.paths``, only a support with one fact per hop."""
    paths: dict[str, Item] = {}
    for cand in candidates:
        for support in cand.support:
            if len(paths) >= max_paths:
                return list(paths.values())
            if cand.hops > 1 and len(support) == cand.hops:
                item = path_item(chain_text(cand, support), support, cand.score)
                paths.setdefault(item.id, item)
    return list(paths.values())


def _team_facts(candidates: Sequence[Candidate], k: int) -> list[Item]:
    """A team ranks candidates, not facts: its facts are the candidates' support in
    candidate order, each scored by the first candidate that cites it."""
    facts: dict[str, Item] = {}
    for cand in candidates:
        for f in (f for support in cand.support for f in support):
            if len(facts) >= k:
                return list(facts.values())
            facts.setdefault(str(f.id), fact_item(f, cand.score))
    return list(facts.values())


def _is_team(target: Any) -> bool:
    from kgagent.team import Team

    return isinstance(target, Team)


def items_for(target: Any, question: object, *, k: int, max_paths: int) -> list[Item]:
    """Up to ``k`` facts and ``max_paths`` paths for ``question`` from an Agent or Team.

    An agent's facts are its ranked facts (``Agent.retrieve``); a team, which ranks no
    facts, gives its candidates' support. The paths are the multi-hop answer chains
    ``ask`` reads (each answer's supporting facts), not ``Evidence.paths``'s walks from
    the topic entity, which are not read for the answer (on MetaQA, "what genres are
    the movies written by John Milius" walked on to other films of a genre, where the
    chains give each genre with the film that has it).

    The question is checked as ``ask`` checks it (a string, valid Unicode, not longer
    than the configured limit), so a framework's input fails with a
    :class:`KGAgentError` naming ``question`` rather than deep in the pipeline.
    """
    if _is_team(target):
        limit = target.settings.get("max_question_chars") or MAX_QUESTION_CHARS
        q = clean_question(question, max_chars=int(limit))
        if not q.strip():
            return []
        cands = target.evidence([q])[0].candidates
        return _team_facts(cands, k) + _chains(cands, max_paths)
    q = clean_question(question, max_chars=target.config.qa.max_question_chars)
    if not q.strip():
        return []
    evidence = target.retrieve(q, k, candidates=max_paths > 0)
    facts = [fact_item(f) for f in evidence.facts[:k]]
    return facts + _chains(evidence.candidates, max_paths)


class AgentHandle:
    """The Agent or Team an adapter asks: the one given, or its workspace's.

    A workspace is checked at once (a bad path fails where the adapter is built, naming
    the path) but opened on first use, read-only, and kept: opening loads the store and
    the index, and a retriever is called many times; read-only so a running ``kgagent
    serve`` or another reader can hold the same workspace. An agent the handle opened
    is closed by :meth:`close`; one passed in belongs to the caller.
    """

    def __init__(self, *, workspace: str | Path | None, agent: Any) -> None:
        if (workspace is None) == (agent is None):
            raise KGAgentError(
                "workspace=PATH or agent=AGENT_OR_TEAM: give exactly one "
                f"(got workspace={workspace!r}, agent={type(agent).__name__})"
            )
        if agent is not None:
            from kgagent.agents import Agent

            if not isinstance(agent, Agent) and not _is_team(agent):
                raise KGAgentError(
                    f"agent: expected a kgagent Agent or Team, got {type(agent).__name__}"
                )
        else:
            from kgagent.workspace import Workspace

            Workspace(workspace).read_config()  # ConfigError naming the path
        self.workspace = None if workspace is None else Path(workspace)
        self._target = agent
        self._owned = False
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The agent (opened now, once, if only a workspace was given)."""
        with self._lock:
            if self._target is None:
                from kgagent.agents import Agent

                self._target = Agent.open(self.workspace, read_only=True)
                self._owned = True
            return self._target

    def close(self) -> None:
        """Closes the agent this handle opened (a later call opens it again)."""
        with self._lock:
            if self._owned and self._target is not None:
                self._target.close()
                self._target, self._owned = None, False


def answer_content(answer: Answer) -> str:
    """An answer as a tool returns it to a model: the sentence with its ``[n]``
    citations, then each cited fact on its own line (with its id, and its member for a
    team), so the model can quote the evidence; an abstention says so first, in plain
    words, so the model does not read "I don't know" as an answer."""
    lines = [f"Abstained. {answer.text}" if answer.abstained else answer.text]
    if answer.facts:
        lines += ["", "Cited facts:"]
        for n, f in enumerate(answer.facts, 1):
            where = f"fact {f.id}" + (f", from {f.agent}" if f.agent is not None else "")
            lines.append(f"[{n}] {f.text} ({where})")
    return "\n".join(lines)
