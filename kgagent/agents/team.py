"""Teams: several agents, each over its own graph, answering questions together.

``Team(agents=[a, b]).ask(q)``:

1. every member links the question in its graph (in parallel); the router merges the
   links into team entities, picks the topic, and the members that receive the question
   (those holding the topic, and those whose relations cover what it asks);
2. the question is encoded once (topic masked for the policy) and scored against every
   team relation;
3. the team policy walks the federated graph from the topic — each hop may take a
   relation of any chosen member, the entity set crossing graphs at shared entities —
   and the members holding the topic add their one-hop candidates (literals included);
   without a team policy, chains are planned from relation relevance instead;
4. the chains are executed hop by hop on the members' edges and each member sends the
   facts behind its hops (typed messages, each fact stamped with the member and its
   graph); the reader (the single agent's, with the lead member's LLM for the questions
   the policy is unsure of) picks the answer, which cites every contributing member's
   facts.

Members run in a thread pool by default, or as Ray actors (``executor="ray"``) with the
same API. See :mod:`kgagent.agents.federation` for how graphs are matched.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from kgagent.agents.federation import DEFAULT_MATCH, Federation
from kgagent.agents.member import make_members
from kgagent.agents.router import Route, Router
from kgagent.agents.team_candidates import (
    Chain,
    build_chains,
    chain_score,
    merge_one_hop,
    plan_chains,
)
from kgagent.errors import KGAgentError
from kgagent.types import Answer, Evidence

__all__ = ["Team"]

#: reader and walk settings a team takes from its lead member unless given
SETTINGS = ("decisive", "policy_weight", "prior_weight", "min_confidence", "beam", "options",
            "min_share")  # fmt: skip
_LINK_WEIGHT = 0.5  # weight of the link score in a chain's relevance (RetrievalWeights)
_LEXICAL = 0.5  # weight of stemmed word overlap in relation relevance (RetrievalWeights)


class Team:
    """Agents over different graphs answering together.

    Args:
        agents: :class:`~kgagent.agents.Agent` instances or workspace directories (opened
            here, and closed with the team).
        names: member names (default: each agent's config name; they must be unique).
        workspace: the team's directory (its policy lives in ``policy/NAME``).
        executor: "thread" (members in this process, in parallel threads) or "ray"
            (each member a Ray actor that opens its workspace; call ``ray.init`` first).
        workers: threads for the members (default: one per member).
        match: entity matchers across graphs, any of "iri", "same_as", "label" (as
            written), "normalized_label" (not by default).
        router: a :class:`~kgagent.agents.router.Router` (default settings otherwise).
        llm: "lead" (the first member with an LLM scores the options the policy is unsure
            of), a member name, an LLM instance, or None (read by the policy's prior).
        policy: the team policy's name in ``workspace/policy/``.
        settings: overrides of the lead member's reader settings (``decisive``,
            ``policy_weight``, ``prior_weight``, ``min_confidence``, ``beam``,
            ``options``, ``min_share``).
        max_answers: answers a candidate carries (with their facts).
        actor_options: Ray ``.options(...)`` for each member actor (num_cpus, ...).
        read_only: open the workspaces given as paths read-only (asking needs no writes;
            another process may hold them; Ray actors always do).
    """

    def __init__(
        self,
        *,
        agents: Sequence[Any],
        names: Sequence[str] | None = None,
        workspace: str | Path | None = None,
        executor: str = "thread",
        workers: int | None = None,
        match: Sequence[str] = DEFAULT_MATCH,
        router: Router | None = None,
        llm: Any = "lead",
        policy: str = "default",
        settings: Mapping[str, Any] | None = None,
        max_answers: int = 100,
        actor_options: dict | None = None,
        read_only: bool = False,
    ) -> None:
        if not agents:
            raise KGAgentError("Team(agents=[...]): give at least one agent")
        unknown = sorted(set(settings or {}) - set(SETTINGS))
        if unknown:
            raise KGAgentError(f"settings {unknown}: choose from {', '.join(SETTINGS)}")
        self.workspace = None if workspace is None else Path(workspace)
        self.executor = executor
        self.router = router or Router()
        self.max_answers = int(max_answers)
        self.match = tuple(match)
        self._settings_override = dict(settings or {})
        self._llm_choice = llm
        self._policy_name = policy
        self._lock = threading.RLock()
        self._pool = (
            ThreadPoolExecutor(max_workers=workers or len(agents), thread_name_prefix="kgteam")
            if executor == "thread"
            else None
        )
        self._actor_options = actor_options
        self.members, self._opened = make_members(
            agents,
            names=names,
            executor=executor,
            pool=self._pool,
            actor_options=actor_options,
            read_only=read_only,
        )
        try:
            self._form()
        except BaseException:
            self.close()
            raise

    def _form(self) -> None:
        """(Re)builds the federation from what the members describe, and the policy."""
        from kgagent.agents.team_policy import load_team_policy

        infos = [f.result() for f in [m.submit("describe") for m in self.members]]
        self.federation = Federation(infos, match=self.match)
        fed = self.federation
        self._rel_stems = [_stems(t) for t in fed.relation_texts]
        self._plan_walk = fed.walk_for()  # the planner's (its caches under self._lock)
        lead = next((i for i in infos if i.has_llm), infos[0])
        self.settings = {**lead.settings, **self._settings_override}
        self.policy = load_team_policy(self, self._policy_name)
        self._llm = None

    # -- public -------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self.federation.names)

    def info(self) -> dict[str, Any]:
        """Members, their graphs and how they were matched, the relations and their
        holders, and whether a team policy is loaded."""
        fed = self.federation
        return {
            "members": [{"name": i.name, "graph": i.graph} for i in fed.infos],
            "entities": fed.num_entities,
            "relations": {
                _iri(t): [fed.names[m] for m in fed.holders[r]]
                for r, t in enumerate(fed.relation_terms)
            },
            "coverage": fed.coverage(),
            "policy": None if self.policy is None else self._policy_name,
            "executor": self.executor,
        }

    def route(self, question: str) -> Route:
        """Where a question goes (topic entity, receiving members, coverage)."""
        links = self._link([question])[0]
        vec = self._encode([_strip_hints(question)])[0]
        return self.router.route(self.federation, links, self._relation_scores(question, vec))

    def ask(self, question: str) -> Answer:
        """Answers one question from the members' graphs, citing each member's facts."""
        return self.ask_batch([question])[0]

    def ask_batch(self, questions: Sequence[str]) -> list[Answer]:
        """Answers many questions; each member gets one request per stage for the batch."""
        from kgagent.llm.reader import Reader
        from kgagent.retrieval.retriever import mask_mention

        t0 = time.perf_counter()
        qs = [(q or "").strip() for q in questions]
        links = self._link(qs)
        t1 = time.perf_counter()
        fed, router = self.federation, self.router
        topics = [router.topic(fed, found) for found in links]
        masked = [
            mask_mention(q, t[2].entity.start, t[2].entity.end) if t[1] is not None else ""
            for q, t in zip(qs, topics, strict=True)
        ]
        has_topic = [i for i, t in enumerate(topics) if t[1] is not None]
        vecs = self._encode([_strip_hints(q) for q in qs] + [masked[i] for i in has_topic])
        qvecs, mvecs = vecs[: len(qs)], dict(zip(has_topic, vecs[len(qs) :], strict=True))
        rel_scores = [self._relation_scores(q, v) for q, v in zip(qs, qvecs, strict=True)]
        routes = [
            router.route(fed, found, rs) if q else None
            for q, found, rs in zip(qs, links, rel_scores, strict=True)
        ]
        one_hop = self._one_hop(routes, rel_scores)  # in flight while the walks run
        chains = self._chains(routes, rel_scores, mvecs)
        built = build_chains(fed, self.members, chains, cap=self.max_answers)
        per_q: list[list] = [[] for _ in qs]
        for chain, cand in zip(chains, built, strict=True):
            if cand is not None:
                per_q[chain.question].append(cand)
        evidences = []
        for i, q in enumerate(qs):
            route = routes[i]
            others = one_hop[i].result() if one_hop[i] is not None else []
            others = merge_one_hop(fed, route.topic, others) if others else []
            evidences.append(self._evidence(q, route, per_q[i], others))
        t3 = time.perf_counter()
        s = self.settings
        reader = Reader(
            self.llm,
            min_confidence=s["min_confidence"],
            prior_weight=s["prior_weight"],
            policy_weight=s["policy_weight"],
            decisive=s["decisive"],
        )
        answers = reader.read(evidences)
        t4 = time.perf_counter()
        n = max(1, len(qs))
        timings = {
            "link_ms": (t1 - t0) * 1000 / n,
            "retrieve_ms": (t3 - t0) * 1000 / n,
            "read_ms": (t4 - t3) * 1000 / n,
            "total_ms": (t4 - t0) * 1000 / n,
        }
        return [dataclasses.replace(a, timings=dict(timings)) for a in answers]

    # -- learning and membership ------------------------------------------------------------

    def train_policy(
        self,
        examples,
        *,
        name: str | None = None,
        config=None,
        warm_start: bool | str = True,
        progress: bool = False,
        time_budget: float | None = None,
    ) -> dict[str, Any]:
        """Trains the team policy (REINFORCE over the federated graph) on QA pairs.

        Args:
            examples: a QA file or (question, answers) pairs.
            name: the policy's name under ``workspace/policy/`` (default: the team's).
            config: a :class:`~kgagent.policy.PolicyConfig`.
            warm_start: True: start from the member policy that knows the most team
                relations (through the transfer module); a member name: from that one;
                False: from scratch.

        Returns the report (also in ``policy/NAME/metrics.json``): the warm start's
        relation coverage and validation Hits@1 before training, the learning curve,
        validation Hits@1 after.
        """
        from kgagent.agents.builder import qa_pairs
        from kgagent.agents.team_policy import train_team_policy

        return train_team_policy(
            self,
            qa_pairs(examples),
            name=name or self._policy_name,
            config=config,
            warm=warm_start,
            progress=progress,
            time_budget=time_budget,
        )

    def join(
        self,
        agent: Any,
        *,
        name: str | None = None,
        warm_start_from: str | None = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Adds a member; with ``warm_start_from`` (a member name) the newcomer's path
        policy is first initialised from that peer's through the transfer module
        (aligned to the newcomer's graph; see :meth:`Agent.import_`).

        Returns the transfer report (alignment coverage, rows mapped), or {}. If the
        newcomer brings relations the team policy does not know, the team answers with
        planned chains until :meth:`train_policy` runs again.
        """
        from kgagent.agents.agent import Agent
        from kgagent.agents.member import make_members

        report: dict[str, Any] = {}
        opened: list[Agent] = []
        if warm_start_from is not None:
            if warm_start_from not in self.names:
                raise KGAgentError(f"warm_start_from={warm_start_from!r}: no such member")
            import tempfile

            peer = self.members[self.names.index(warm_start_from)]
            with tempfile.TemporaryDirectory(prefix="kgagent-join-") as tmp:
                bundle = peer.submit("export_policy", str(Path(tmp) / "bundle")).result()
                target = agent if isinstance(agent, Agent) else Agent.open(agent)
                try:
                    report = target.import_(bundle, components=["policy"], overwrite=overwrite)
                finally:
                    if target is not agent and self.executor == "ray":
                        target.close()  # the actor opens the workspace itself
                    elif target is not agent:
                        opened.append(target)
                        agent = target
            report["warm_start_from"] = warm_start_from
        names = [*self.names, name] if name else None
        new, more = make_members(
            [agent],
            names=[name] if name else None,
            executor=self.executor,
            pool=self._pool,
            actor_options=self._actor_options,
        )
        if names is None and new[0].name in self.names:
            raise KGAgentError(f"a member is already called {new[0].name!r}: give name=")
        with self._lock:
            self.members += new
            self._opened += opened + more
            self._form()
        return report

    # -- plumbing -----------------------------------------------------------------------

    @property
    def llm(self):
        """What scores the options the policy is unsure of (see ``llm=``), or None."""
        with self._lock:
            if self._llm is None:
                self._llm = self._resolve_llm() or False
            return self._llm or None

    def _resolve_llm(self):
        choice = self._llm_choice
        if choice is None:
            return None
        if not isinstance(choice, str):
            return choice  # an LLM instance
        infos = self.federation.infos
        if choice == "lead":
            m = next((i for i, info in enumerate(infos) if info.has_llm), None)
            return None if m is None else _MemberLLM(self.members[m])
        if choice not in self.names:
            raise KGAgentError(f"llm={choice!r}: no such member ({', '.join(self.names)})")
        return _MemberLLM(self.members[self.names.index(choice)])

    def _set_policy(self, reasoner, name: str) -> None:
        with self._lock:
            if name == self._policy_name:
                self.policy = reasoner

    def _link(self, questions: Sequence[str]) -> list[list]:
        """Per question, every member's links (members in parallel)."""
        futures = [m.submit("link", list(questions)) for m in self.members]
        per_member = [f.result() for f in futures]
        return [[links[i] for links in per_member] for i in range(len(questions))]

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.federation.relation_vectors.shape[1]), dtype=np.float32)
        return np.asarray(self.members[0].submit("encode", list(texts)).result())

    def _relation_scores(self, question: str, qvec: np.ndarray) -> np.ndarray:
        """(2R,) relevance of each team relation (each way), as the single agent's."""
        stems = _stems(question)
        lexical = np.array(
            [len(stems & rs) / len(rs) if rs else 0.0 for rs in self._rel_stems], np.float32
        )
        return self.federation.relation_vectors @ qvec + _LEXICAL * lexical

    def _one_hop(self, routes, rel_scores) -> list:
        """Per question, a future of [(member, one-hop candidate)] from the members that
        hold its topic and received it (one request per member)."""
        fed = self.federation
        asks: list[list[tuple[int, tuple]]] = [[] for _ in self.members]
        for i, route in enumerate(routes):
            if route is None or route.topic is None:
                continue
            for m in route.members:
                node = int(fed.to_local[m][route.topic])
                if node >= 0:
                    acts = fed.local_actions(m)
                    local = np.where(acts >= 0, rel_scores[i][np.maximum(acts, 0)], -1.0)
                    asks[m].append((i, (node, float(route.topic_link.entity.score), local)))
        futures = [
            self.members[m].submit("one_hop", [a for _, a in ask]) if ask else None
            for m, ask in enumerate(asks)
        ]
        return [_Gathered(i, asks, futures) for i in range(len(routes))]

    def _chains(self, routes, rel_scores, mvecs) -> list[Chain]:
        """The chains to execute: the team policy's likely walks (batched beam search),
        or without a policy the planner's best multi-hop chains."""
        from kgagent.policy import Query
        from kgagent.retrieval.retriever import _likely

        fed, s = self.federation, self.settings
        asked = [i for i, r in enumerate(routes) if r is not None and r.topic is not None]
        allowed = {i: fed.allowed(routes[i].members) for i in asked}
        out: list[Chain] = []
        policy = self.policy
        if policy is not None and asked:
            queries = [
                Query(routes[i].topic, mvecs[i], np.empty(0, np.int64), allowed[i]) for i in asked
            ]
            beams = policy.beam_search(queries, beam=s["beam"])
            for i, paths in zip(asked, beams, strict=True):
                route = routes[i]
                for p in _likely(paths, s["options"], s["min_share"]):
                    score = chain_score(_LINK_WEIGHT, 1.0, rel_scores[i], p.actions)
                    out.append(Chain(i, route.topic, p.actions, score, p.logp, route.members))
            return out
        walk = self._plan_walk
        for i in asked:
            route = routes[i]
            link = float(route.topic_link.entity.score)
            with self._lock:  # the walk's caches are shared
                plans = plan_chains(walk, route.topic, rel_scores[i], allowed[i], max_hops=3,
                                    beam=4)  # fmt: skip
            for _, actions in plans:
                if len(actions) >= 2:
                    score = chain_score(_LINK_WEIGHT, link, rel_scores[i], actions)
                    out.append(Chain(i, route.topic, actions, score, None, route.members))
        return out

    def _evidence(self, question: str, route, walked: list, others: list) -> Evidence:
        """The question's candidates in the single agent's order: the policy's walks,
        then the best of the rest (all of them without a policy)."""
        if route is None:
            return Evidence(question="", facts=())
        proposed = [c for c in walked if c.prior is not None]
        rest = sorted([c for c in walked if c.prior is None] + others, key=lambda c: -c.score)
        best: dict[tuple, Any] = {}
        for c in [*proposed, *rest]:
            best.setdefault((c.relations, c.inverse), c)
        keep = len(proposed) + 1 if proposed else 12
        entities = tuple(link.entity for _, link, _ in route.entities)
        return Evidence(question, (), (), entities, {}, tuple(list(best.values())[:keep]))

    def close(self) -> None:
        for m in getattr(self, "members", []):
            if not hasattr(m, "agent"):
                m.close()  # a Ray actor
        for a in getattr(self, "_opened", []):
            a.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> Team:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Gathered:
    """One question's share of the members' one-hop replies (resolved on first use)."""

    def __init__(self, index: int, asks, futures) -> None:
        self.index, self.asks, self.futures = index, asks, futures

    def result(self) -> list:
        out = []
        for m, (ask, fut) in enumerate(zip(self.asks, self.futures, strict=True)):
            if fut is None:
                continue
            replies = fut.result()
            for (i, _), reply in zip(ask, replies, strict=True):
                if i == self.index:
                    out += [(m, c) for c in reply.candidates]
        return out


class _MemberLLM:
    """A member's LLM, asked through the member (in its thread, or its actor)."""

    scores_choices = True

    def __init__(self, member) -> None:
        self.member = member
        self.name = f"member:{member.name}"

    def choose(self, conversations, options):
        return self.member.submit("llm_choose", conversations, list(options)).result()


def _stems(text: str) -> set[str]:
    from kgagent.retrieval.retriever import _STOP_STEMS, _WORD, _stem

    return {_stem(t) for t in _WORD.findall(text.lower())} - _STOP_STEMS


def _strip_hints(question: str) -> str:
    return question.replace("[", "").replace("]", "")


def _iri(term: str) -> str:
    return term[1:-1] if term.startswith("<") else term
