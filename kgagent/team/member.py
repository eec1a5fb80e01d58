"""A team member: one agent answering the team's requests, in this process or a Ray actor.

The requests are few and coarse (one per batch of questions, not per fact), so the same
interface serves a thread pool and actors on other machines: ``describe`` (once, when
the team forms), ``link``, ``encode``, ``facts``, ``one_hop``, ``llm_choose``,
``synth_parts``, ``program_values``, ``program_value_facts`` and ``export_policy``.
:meth:`LocalMember.submit` and :meth:`RayMember.submit` both return a
:class:`concurrent.futures.Future`, so the team's code does not know which it talks to.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from kgagent.errors import KGAgentError
from kgagent.team.messages import SAME_AS, FactBatch, Link, MemberInfo, OneHop
from kgagent.types import fact_id

__all__ = ["EXECUTORS", "LocalMember", "RayMember", "make_members"]

#: how a team runs its members: in threads of this process, or as Ray actors
EXECUTORS = ("thread", "ray")


class LocalMember:
    """Answers the team's requests from an :class:`~kgagent.agents.Agent` it holds."""

    def __init__(self, agent, *, name: str, pool: ThreadPoolExecutor | None = None) -> None:
        self.agent = agent
        self.name = name
        self._pool = pool
        self._graph: str | None = None
        self._program_graph = None  # LocalProgramGraph, built on the first typed question
        self._program_lock = threading.Lock()

    def submit(self, method: str, *args: Any) -> Future:
        if self._pool is None:  # no pool: answer now (an actor's member, or one agent)
            fut: Future = Future()
            try:
                fut.set_result(getattr(self, method)(*args))
            except BaseException as exc:
                fut.set_exception(exc)
            return fut
        return self._pool.submit(getattr(self, method), *args)

    @property
    def graph(self) -> str:
        if self._graph is None:
            ws = self.agent.workspace
            where = str(Path(ws).resolve()) if ws is not None else "memory"
            self._graph = f"{where}#{self.agent.kg.fingerprint()}"
        return self._graph

    # -- requests -----------------------------------------------------------------------

    def describe(self) -> MemberInfo:
        import dataclasses

        from kgagent.agents.builder import reader_settings, retrieval_weights
        from kgagent.transfer.exchange import vocabulary_of

        agent = self.agent
        r = agent.retriever  # builds or loads the index: a clear error if there is none
        (ents, ent_labels), (rels, _) = vocabulary_of(agent.kg)
        edges = agent.kg.adjacency().triples()  # (E, 3) forward entity-to-entity edges
        same_as = np.zeros((0, 2), dtype=np.int64)
        sa = agent.kg.vocab.relations.get(SAME_AS)
        if sa is not None:
            same_as = edges[edges[:, 1] == sa][:, [0, 2]]
        cfg = agent.config
        return MemberInfo(
            name=self.name,
            graph=self.graph,
            encoder=agent.encoder.name,
            entity_terms=ents,
            entity_labels=ent_labels,
            relation_terms=rels,
            relation_texts=list(r.relation_texts),
            relation_vectors=np.asarray(r.relation_vectors, dtype=np.float32),
            edges=edges,
            same_as=same_as,
            settings={
                "weights": dataclasses.asdict(retrieval_weights(cfg.retrieval)),
                **reader_settings(cfg),  # the configured reader settings, one source
                "beam": cfg.policy.beam,
                "options": cfg.policy.options,
                "min_share": cfg.policy.min_share,
                "batch_chunk": cfg.qa.batch_chunk,
                "max_question_chars": cfg.qa.max_question_chars,
                "programs": cfg.qa.programs,
                "programs_llm": cfg.qa.programs_llm,
            },
            has_llm=agent.has_llm,
            has_policy=r.policy is not None,
        )

    def link(self, questions: Sequence[str], top_k: int = 5) -> list[list[Link]]:
        """Per question, the entities this member's linker finds (those in its graph)."""
        r = self.agent.retriever
        out = []
        for q in questions:
            found = []
            for e in r.linker.link(q, top_k=top_k):
                node = r.entity_id.get(f"<{e.iri}>")
                if node is not None:
                    found.append(Link(self.name, int(node), e))
            out.append(found)
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.agent.encoder.encode(list(texts)), dtype=np.float32)

    def facts(self, triples: np.ndarray) -> FactBatch:
        """The facts behind local (subject, relation, object) id triples, with provenance."""
        import dataclasses

        r = self.agent.retriever
        ents, rels = r.entity_terms, r.relation_terms
        t = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
        ids = np.array(
            [fact_id(ents[s], rels[p], ents[o]) for s, p, o in t.tolist()], dtype=np.int64
        )
        rows = r.facts.rows_for_ids(ids) if len(ids) else np.zeros(0, dtype=np.int64)
        graph = self.graph
        out = []
        for row in rows.tolist():
            if row < 0:
                out.append(None)
                continue
            f = r.facts.fact(int(row), labels=r.label)
            out.append(dataclasses.replace(f, agent=self.name, graph=graph))
        return FactBatch(self.name, graph, tuple(out))

    def one_hop(
        self, requests: Sequence[tuple[int, float, np.ndarray]], cap: int = 100
    ) -> list[OneHop]:
        """Per (local topic id, link score, (2R_local,) relation relevance): the topic's
        one-hop candidates in this graph, literal-valued relations included."""
        import dataclasses

        graph = self.graph
        found = self.agent.retriever.graph.one_hop(
            [(int(n), float(link), np.asarray(rel)) for n, link, rel in requests], cap=cap
        )
        out = []
        for cands in found:
            stamped = []
            for c in cands:
                support = tuple(
                    tuple(dataclasses.replace(f, agent=self.name, graph=graph) for f in s)
                    for s in c.support
                )
                stamped.append(dataclasses.replace(c, support=support))
            out.append(OneHop(self.name, tuple(stamped)))
        return out

    def llm_choose(self, conversations, options) -> np.ndarray:
        llm = self.agent.llm
        if llm is None:
            raise KGAgentError(f"member {self.name!r} has no LLM (llm.backend: none)")
        return llm.choose(conversations, options)

    def program_values(self, relation: str, inverse: bool) -> dict[str, np.ndarray]:
        """This graph's value table of one relation (local node ids; ``ref`` its own fact
        references), for the team's typed questions (:mod:`kgagent.team.programs`)."""
        t = self._programs().values(relation, bool(inverse))
        return {k: getattr(t, k) for k in ("holder", "node", "term", "text", "datatype",
                                           "display", "ref")}  # fmt: skip

    def program_value_facts(self, refs: Sequence[int]) -> FactBatch:
        """The facts behind rows of :meth:`program_values`, stamped with this member."""
        import dataclasses

        found = self._programs().value_facts(np.asarray(refs, dtype=np.int64))
        graph = self.graph
        stamped = tuple(
            None if f is None else dataclasses.replace(f, agent=self.name, graph=graph)
            for f in found
        )
        return FactBatch(self.name, graph, stamped)

    def _programs(self):
        from kgagent.programs.graph import LocalProgramGraph

        with self._program_lock:
            if self._program_graph is None:
                self._program_graph = LocalProgramGraph(self.agent.retriever.graph)
            return self._program_graph

    def synth_parts(self):
        """What the team's question synthesis needs from this graph, in local ids: its
        ontology, (N,) schema-node flags and askable literal facts
        (:func:`kgagent.synth.chains.graph_parts`)."""
        from kgagent.synth.chains import graph_parts

        onto = self.agent.kg.ontology
        schema, literals = graph_parts(self.agent.retriever, onto)
        return onto, schema, literals

    def export_policy(self, path: str) -> str:
        """Writes this member's path policy as a transfer bundle; returns its directory."""
        return str(self.agent.export(path, components=("policy",)))

    def close(self) -> None:
        self.agent.close()


class RayMember:
    """A member running as a Ray actor (``pip install 'kgagent[ray]'``): the actor opens
    the agent's workspace itself, so the agent's index and models live in its process."""

    def __init__(self, workspace: str | Path, *, name: str, options: dict | None = None):
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise KGAgentError("executor='ray' needs Ray: pip install 'kgagent[ray]'") from exc
        if not ray.is_initialized():
            raise KGAgentError("executor='ray': call ray.init(...) before forming the team")
        self.name = name
        self.workspace = str(workspace)
        self._actor = _actor_class().options(**(options or {})).remote(self.workspace, name)

    def submit(self, method: str, *args: Any) -> Future:
        return self._actor.call.remote(method, *args).future()

    def close(self) -> None:
        import ray

        try:
            ray.get(self._actor.call.remote("close"))
        finally:
            ray.kill(self._actor)


_ACTOR = None
_ACTOR_LOCK = threading.Lock()


def _actor_class():
    """The Ray actor class, defined on first use (Ray is optional and imports slowly)."""
    global _ACTOR
    with _ACTOR_LOCK:
        if _ACTOR is None:
            import ray

            @ray.remote
            class MemberActor:
                def __init__(self, workspace: str, name: str) -> None:
                    from kgagent.agents.agent import Agent

                    # read-only: the driver (or another team) may hold the store
                    self.member = LocalMember(Agent.open(workspace, read_only=True), name=name)

                def call(self, method: str, *args: Any) -> Any:
                    return getattr(self.member, method)(*args)

            _ACTOR = MemberActor
        return _ACTOR


def make_members(
    agents: Sequence[Any],
    *,
    names: Sequence[str] | None,
    executor: str,
    pool: ThreadPoolExecutor | None,
    actor_options: dict | None = None,
    read_only: bool = False,
) -> tuple[list[Any], list[Any]]:
    """(members, agents this call opened and the team must close) for the team's agents
    (Agent instances or workspace directories)."""
    from kgagent.agents.agent import Agent

    if executor not in EXECUTORS:
        raise KGAgentError(f"executor {executor!r}: choose from {', '.join(EXECUTORS)}")
    if names is not None and len(names) != len(agents):
        raise KGAgentError(f"{len(names)} names for {len(agents)} agents")
    members, opened, resolved = [], [], []
    chosen: list[str] = []
    for i, a in enumerate(agents):
        if executor == "ray":
            ws = a.workspace if isinstance(a, Agent) else a
            if ws is None:
                raise KGAgentError(f"agent {i}: executor='ray' opens agents from workspaces")
            from kgagent.workspace import read_config

            chosen.append(names[i] if names else read_config(ws).name)
            resolved.append(ws)
            continue
        if not isinstance(a, Agent):
            a = Agent.open(a, read_only=read_only)
            opened.append(a)
        chosen.append(names[i] if names else a.config.name)
        resolved.append(a)
    dupes = sorted({n for n in chosen if chosen.count(n) > 1})
    if dupes:
        for a in opened:
            a.close()
        raise KGAgentError(
            f"member names must be unique, {dupes} repeat: give names=[...] "
            "(CLI: --agent NAME=WS) or set each workspace's config name"
        )
    for name, a in zip(chosen, resolved, strict=True):
        if executor == "ray":
            members.append(RayMember(a, name=name, options=actor_options))
        else:
            members.append(LocalMember(a, name=name, pool=pool))
    return members, opened
