"""A team's answer candidates: relation chains walked across the members' graphs.

A chain (the team policy's walk, or one planned from relation relevance) is executed on
the federated edges hop by hop; every hop is an edge of some member's graph, so each
answer's supporting walk is a list of (member, local triple). The members are then asked
once each for the facts behind those triples, and send them with their provenance. A
chain may start in one graph and end in another: the entity where it crosses is the same
team entity in both (matched by IRI, ``owl:sameAs`` or label), named by each graph in
its own facts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from kgagent.agents.federation import Federation
from kgagent.retrieval.candidates import HOP_PENALTY
from kgagent.types import Candidate, Fact

__all__ = ["Chain", "build_chains", "merge_one_hop", "plan_chains"]

_WALKS_PER_ANSWER = 20  # executed walks per answer kept, as the single agent's chains


@dataclass(frozen=True)
class Chain:
    """A relation chain to execute for one question (team actions, score, prior)."""

    question: int
    topic: int
    actions: tuple[int, ...]
    score: float
    prior: float | None
    members: tuple[int, ...]


def plan_chains(
    walk, topic: int, rel_score: np.ndarray, allowed: np.ndarray, *, max_hops: int, beam: int
) -> list[tuple[float, tuple[int, ...]]]:
    """Relation sequences around ``topic`` in the federated graph, best mean relevance
    first (the single agent's planner, over every member's edges)."""
    plans: list[tuple[float, tuple[int, ...]]] = []
    frontier: list[tuple[int, ...]] = [()]
    for _ in range(max_hops):
        nxt = []
        for seq in frontier:
            avail = walk.available(topic, seq) & allowed
            avail[walk.stop] = False
            nxt += [(*seq, int(a)) for a in np.flatnonzero(avail).tolist()]
        scored = sorted(((float(np.mean(rel_score[list(s)])), s) for s in nxt), reverse=True)
        scored = scored[: beam * 4]
        plans += scored
        frontier = [s for _, s in scored]
    plans.sort(reverse=True)
    return plans[:beam]


def _execute(fed: Federation, chain: Chain, cap: int) -> dict[int, list[tuple[int, int]]]:
    """Answer team id -> one supporting walk [(member, CSR edge index), ...]."""
    limit = cap * _WALKS_PER_ANSWER
    walks: list[tuple[list[tuple[int, int]], int, frozenset]] = [
        ([], chain.topic, frozenset([chain.topic]))
    ]
    for action in chain.actions:
        nxt = []
        for hops, node, seen in walks:
            for m, edge, tail in fed.expand(node, action, chain.members):
                if tail in seen:
                    continue  # a walk never revisits an entity
                nxt.append(([*hops, (m, edge)], tail, seen | {tail}))
                if len(nxt) >= limit:
                    break
            if len(nxt) >= limit:
                break
        walks = nxt
        if not walks:
            return {}
    first: dict[int, list[tuple[int, int]]] = {}
    for hops, tail, _ in walks:
        if tail != chain.topic:
            first.setdefault(tail, hops)
    return first


def build_chains(
    fed: Federation, members, chains: Sequence[Chain], *, cap: int = 100
) -> list[Candidate | None]:
    """The candidates of ``chains`` (None where a chain reaches nothing), their facts
    gathered from the members that hold them, one request per member."""
    executed = [_execute(fed, c, cap) for c in chains]
    wanted: list[dict[tuple[int, int, int], int]] = [{} for _ in members]
    for reached in executed:
        for hops in list(reached.values())[:cap]:
            for m, edge in hops:
                key = tuple(int(x) for x in fed.edges[m].local[edge])
                wanted[m].setdefault(key, len(wanted[m]))
    futures: list[Future | None] = [
        members[m].submit("facts", np.array(list(w), dtype=np.int64)) if w else None
        for m, w in enumerate(wanted)
    ]
    got: list[dict[tuple[int, int, int], Fact | None]] = []
    for w, fut in zip(wanted, futures, strict=True):
        batch = fut.result().facts if fut is not None else ()
        got.append(dict(zip(w, batch, strict=True)))
    R = fed.num_relations
    out: list[Candidate | None] = []
    for chain, reached in zip(chains, executed, strict=True):
        if not reached:
            out.append(None)
            continue
        answers, support = [], []
        for tail, hops in list(reached.items())[:cap]:
            answers.append((_iri(fed.entity_terms[tail]), fed.entity_labels[tail]))
            facts = []
            for m, edge in hops:
                f = got[m].get(tuple(int(x) for x in fed.edges[m].local[edge]))
                if f is not None:
                    facts.append(f)
            support.append(tuple(facts))
        out.append(
            Candidate(
                topic=_iri(fed.entity_terms[chain.topic]),
                topic_label=fed.entity_labels[chain.topic],
                relations=tuple(_iri(fed.relation_terms[a % R]) for a in chain.actions),
                inverse=tuple(a >= R for a in chain.actions),
                relation_labels=tuple(fed.relation_texts[a] for a in chain.actions),
                answers=tuple(answers),
                total=len(reached),
                support=tuple(support),
                score=chain.score,
                prior=chain.prior,
            )
        )
    return out


def merge_one_hop(fed: Federation, topic: int, found: Sequence[tuple[int, Candidate]]):
    """Members' one-hop candidates as team candidates: answers named by team entity,
    the same relation from several members merged into one answer set."""
    merged: dict[tuple, Candidate] = {}
    topic_iri, topic_label = _iri(fed.entity_terms[topic]), fed.entity_labels[topic]
    for m, c in found:
        answers = []
        for value, label in c.answers:
            node = fed.local_index(m).get(f"<{value}>")
            if node is None:  # a literal, or a term outside the entity table
                answers.append((value, label))
            else:
                team = int(fed.to_team[m][node])
                answers.append((_iri(fed.entity_terms[team]), fed.entity_labels[team]))
        c = dataclasses.replace(c, topic=topic_iri, topic_label=topic_label, answers=tuple(answers))
        key = (c.relations, c.inverse)
        if key not in merged:
            merged[key] = c
            continue
        old = merged[key]
        have = {a for a, _ in old.answers}
        extra = [(a, s) for a, s in zip(c.answers, c.support, strict=True) if a[0] not in have]
        merged[key] = dataclasses.replace(
            old,
            answers=old.answers + tuple(a for a, _ in extra),
            support=old.support + tuple(s for _, s in extra),
            total=old.total + len(extra),
            score=max(old.score, c.score),
        )
    return list(merged.values())


def chain_score(link_weight: float, link: float, rel_score: np.ndarray, actions) -> float:
    """Relevance of a chain as the single agent scores it: link, mean relation relevance,
    and a penalty per extra hop."""
    return (
        link_weight * link
        + float(np.mean(rel_score[list(actions)]))
        - HOP_PENALTY * (len(actions) - 1)
    )


def _iri(term: str) -> str:
    return term[1:-1] if term.startswith("<") else term
