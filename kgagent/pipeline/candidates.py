"""Answer candidates: the entity sets that relation chains from a topic entity reach.

One candidate per (topic, relation chain): every relation around the topic (one hop, from
its facts, literals included) and the chains the proposers chose, executed on the graph
view. The reader then only has to pick a chain; the graph supplies complete answer sets
("which films did X direct" has many answers) and the facts behind each answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from kgagent.kg.terms import iri_of
from kgagent.pipeline.graph import GraphView
from kgagent.pipeline.proposers import Anchor, Proposal
from kgagent.types import Candidate

__all__ = ["CandidateBuilder"]


class CandidateBuilder:
    """Executes proposals and gathers one-hop answer sets into ranked candidates.

    Args:
        graph: the view chains execute on.
        max_answers: answers a candidate carries (with their facts).
        walks_per_answer: walks executed per kept answer (a chain's first walks).
        topic_answers: a chain may end on its own topic entity.
        max_candidates: candidates kept without a policy.
        others_with_policy: candidates kept beside the policy's walks (a literal-valued
            relation, or a path the policy missed, stays in the running).
    """

    def __init__(
        self,
        graph: GraphView,
        *,
        max_answers: int,
        walks_per_answer: int,
        topic_answers: bool,
        max_candidates: int,
        others_with_policy: int,
    ) -> None:
        self.graph = graph
        self.max_answers = int(max_answers)
        self.walks_per_answer = int(walks_per_answer)
        self.topic_answers = bool(topic_answers)
        self.max_candidates = int(max_candidates)
        self.others_with_policy = int(others_with_policy)

    def build(
        self,
        n_questions: int,
        anchors: Sequence[Anchor],
        rel_scores: Sequence[np.ndarray],
        policy: Sequence[Sequence[Proposal]],
        planned: Sequence[Sequence[Proposal]],
        rank: Callable[[list[list[Candidate]]], list[np.ndarray]] | None = None,
        fits: Callable[[int, Candidate], bool] | None = None,
    ) -> list[tuple[Candidate, ...]]:
        """Per question, its candidates best first: the policy's walks in its order, then
        the best of the rest (one-hop and planned chains by score).

        ``policy`` and ``planned``: per anchor (``anchors`` order), its proposals.
        ``rank``: new scores for the rest of each question's candidates (the zero-shot
        :class:`~kgagent.pipeline.ranker.ChainRanker`), given all of them at once.
        ``fits(question index, candidate)``: whether a walk's answers are of the type the
        question asks for. A policy walk that does not fit loses its policy prior and is
        ranked with the rest: a policy trained on one phrasing ("what year was X
        released") can send a new one ("when did X hit theaters") to the cast, and the
        answers' type says so plainly.
        """
        cap = self.max_answers
        one_hop = self.graph.one_hop(
            [(a.node, a.link, rel_scores[a.question]) for a in anchors],
            cap=cap,
            scope=_one_scope(anchors),
        )
        flat = [p for ps in (*policy, *planned) for p in ps]
        chains, walks = self._run(flat)
        pending: dict[tuple, list] = {}  # (question, chain) -> walks, where facts are due
        for p, c, w in zip(flat, chains, walks, strict=True):
            if c is not None:
                pending[(p.anchor.question, c.topic, c.relations, c.inverse)] = w
        proposed: list[list[Candidate]] = [[] for _ in range(n_questions)]
        others: list[list[Candidate]] = [[] for _ in range(n_questions)]
        for a, props in zip(anchors, policy, strict=True):
            for c in (chains.pop(0) for _ in props):
                if c is None:
                    continue
                if fits is None or fits(a.question, c):
                    proposed[a.question].append(c)
                else:
                    others[a.question].append(dataclasses.replace(c, prior=None))
        for a, props, hop in zip(anchors, planned, one_hop, strict=True):
            others[a.question] += hop
            others[a.question] += [c for c in (chains.pop(0) for _ in props) if c is not None]
        if rank is not None:
            others = [
                [dataclasses.replace(c, score=float(s)) for c, s in zip(rest, scores, strict=True)]
                for rest, scores in zip(others, rank(others), strict=True)
            ]
        kept = []
        for mine, rest in zip(proposed, others, strict=True):
            rest.sort(key=lambda c: -c.score)
            best: dict[tuple, Candidate] = {}
            for c in [*mine, *rest]:
                best.setdefault((c.topic, c.relations, c.inverse), c)
            keep = len(mine) + self.others_with_policy if mine else self.max_candidates
            kept.append(list(best.values())[:keep])
        # the facts of the executed chains that were kept (one-hop candidates have theirs)
        due = [(i, j, pending[(i, c.topic, c.relations, c.inverse)])
               for i, cands in enumerate(kept) for j, c in enumerate(cands)
               if c.support and not any(c.support)
               and (i, c.topic, c.relations, c.inverse) in pending]  # fmt: skip
        filled = self._with_facts([kept[i][j] for i, j, _ in due], [w for _, _, w in due])
        for (i, j, _), c in zip(due, filled, strict=True):
            kept[i][j] = c
        return [tuple(cands) for cands in kept]

    def execute(self, proposals: Sequence[Proposal]) -> list[Candidate | None]:
        """The candidate of each proposal (None where its chain reaches nothing); the facts
        of every kept walk are gathered in one batch."""
        cands, walks = self._run(proposals)
        return self._with_facts(cands, walks)

    def _run(self, proposals: Sequence[Proposal]):
        """(candidates without their facts, each one's walks): a chain's answers and the
        first walk to each, the facts left for :meth:`_with_facts` (most executed chains
        are ranked out, and building their facts was most of a question's cost)."""
        g, cap = self.graph, self.max_answers
        reached = [
            g.execute(
                p.anchor.node,
                p.actions,
                max_walks=cap * self.walks_per_answer,
                back=self.topic_answers,
                keep=cap,
                scope=p.anchor.scope,
            )
            for p in proposals
        ]
        R = g.num_relations
        out: list[Candidate | None] = []
        walks: list[list | None] = []
        for p, r in zip(proposals, reached, strict=True):
            if not r.total:
                out.append(None)
                walks.append(None)
                continue
            node = p.anchor.node
            out.append(
                Candidate(
                    topic=iri_of(g.entity_term(node)),
                    topic_label=g.entity_label(node),
                    relations=tuple(iri_of(g.relation_terms[a % R]) for a in p.actions),
                    inverse=tuple(a >= R for a in p.actions),
                    relation_labels=tuple(g.relation_texts[a] for a in p.actions),
                    answers=tuple((iri_of(g.entity_term(t)), g.entity_label(t)) for t in r.walks),
                    total=r.total,
                    support=tuple(() for _ in r.walks),  # filled by _with_facts
                    score=p.score,
                    prior=p.prior,
                    link=p.anchor.link,
                )
            )
            walks.append(list(r.walks.values()))
        return out, walks

    def _with_facts(self, cands: Sequence[Candidate | None], walks: Sequence[list | None]):
        """``cands`` with the facts of their walks, gathered in one batch."""
        todo = [k for k, c in enumerate(cands) if c is not None]
        facts = iter(self.graph.walk_facts([w for k in todo for w in walks[k]]))
        out = list(cands)
        for k in todo:
            out[k] = dataclasses.replace(cands[k], support=tuple(next(facts) for _ in walks[k]))
        return out


def _one_scope(anchors: Sequence[Anchor]):
    """Scopes travel with each anchor; the view's one-hop takes them per request."""
    return [a.scope for a in anchors]
