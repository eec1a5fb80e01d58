"""Training questions from the graph itself, phrased the way users ask.

For users with a knowledge graph and no QA data. Each question is a relation chain of
1 to ``max_hops`` hops from a topic entity, with its complete answer set (every entity the
chain reaches; the topic never among them), phrased from the ontology: the verbalizer's
templates and the relation labels' grammar give the verbs ("who directed X", "which
films were directed by the people who wrote X"), the answers' class gives the question
word ("who", "what year", "which language"). See :mod:`kgagent.synth.chains` (sampling
and answers), :mod:`kgagent.synth.lexicon` (kinds, nouns, type-consistent chains),
:mod:`kgagent.synth.forms` (templates by label shape) and :mod:`kgagent.synth.phrasing`.

A property can carry its own questions, honoured as they are::

    @prefix kga: <https://kgagent.dev/vocab#> .
    ex:directedBy kga:question "who directed {subject}?" ;
                  kga:inverseQuestion "what did {object} direct?" .

``kga:question`` asks for the object, with the subject in ``{subject}``;
``kga:inverseQuestion`` asks for the subject, with the object in ``{object}``. The slot is
filled with the topic, or with the noun phrase of the hops before in a multi-hop
question. Several alternatives go in one value, separated by ``||``.

Sampling is even over the relation chains the graph allows (not proportional to their
facts), seeded, and vectorized over the graph's edge arrays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from kgagent.kg.terms import iri_of
from kgagent.qa import QAItem
from kgagent.synth.report import SynthReport, question_word

__all__ = [
    "SynthItem",
    "SynthReport",
    "question_word",
    "synthesize",
    "synthesize_items",
    "synthesize_report",
]


@dataclass(frozen=True)
class SynthItem:
    """A synthesized question with its gold chain.

    Attributes:
        question: the question as a user would type it.
        answers: labels of every answer.
        topic_iri, topic_label: the entity the question is about.
        relations: the chain's predicate IRIs, one per hop.
        inverse: per hop, whether it walks the relation from object to subject.
        template: the template id (frame and noun phrases by category and label shape).
    """

    question: str
    answers: tuple[str, ...]
    topic_iri: str
    topic_label: str
    relations: tuple[str, ...]
    inverse: tuple[bool, ...]
    template: str

    @property
    def qa(self) -> QAItem:
        return QAItem(self.question, self.answers)

    @property
    def hops(self) -> int:
        return len(self.relations)


def synthesize(
    agent: Any, *, n: int = 400, seed: int = 0, multi_hop: float = 0.3, max_hops: int = 3,
    brackets: bool = False,
) -> list[QAItem]:  # fmt: skip
    """``n`` questions with their gold answers (``multi_hop`` of them over 2 to
    ``max_hops`` hops), as :class:`~kgagent.qa.QAItem`; see :func:`synthesize_items`."""
    items = synthesize_items(
        agent, n=n, seed=seed, multi_hop=multi_hop, max_hops=max_hops, brackets=brackets
    )
    return [it.qa for it in items]


def synthesize_items(agent: Any, **kwargs: Any) -> list[SynthItem]:
    """Like :func:`synthesize_report`, without the report."""
    return synthesize_report(agent, **kwargs)[0]


def synthesize_report(
    agent: Any,
    *,
    n: int = 400,
    seed: int = 0,
    multi_hop: float = 0.3,
    max_hops: int = 3,
    brackets: bool = False,
    max_answers: int = 30,
) -> tuple[list[SynthItem], SynthReport]:
    """Questions with their gold chains, and the report of their diversity.

    Args:
        agent: an indexed agent (its retriever's graph and its KG's ontology are read),
            or a :class:`~kgagent.team.Team` (``synth_inputs()``: the members' graphs
            federated, so chains cross from one member's graph into another's).
        n: how many questions (fewer if the graph cannot give that many).
        seed: every choice is drawn from it: the same seed gives the same questions.
        multi_hop: the share of questions over 2 to ``max_hops`` hops, split evenly.
        max_hops: the longest chain.
        brackets: wrap the topic in [ ] (the MetaQA convention) instead of plain text.
        max_answers: chains reaching more answers from a topic are not asked.
    """
    from kgagent.retrieval.verbalize import Verbalizer
    from kgagent.synth.chains import ChainSampler, chain_graph
    from kgagent.synth.lexicon import Lexicon
    from kgagent.synth.phrasing import Phraser

    start = time.perf_counter()
    if hasattr(agent, "synth_inputs"):  # a team: its members' graphs, federated
        graph, onto, relation_terms = agent.synth_inputs()
    else:
        r, onto = agent.retriever, agent.kg.ontology
        graph, relation_terms = chain_graph(r, onto), list(r.relation_terms)
    lexicon = Lexicon(graph, onto, Verbalizer(onto), list(relation_terms))
    shapes = lexicon.shapes(max(1, max_hops))
    sampler = ChainSampler(graph, shapes, max_answers=max_answers)
    rng = np.random.default_rng(seed)
    phraser = Phraser(lexicon, rng=rng, brackets=brackets)
    samples, short = [], 0
    for hops, quota in sorted(_quotas(n, multi_hop, max_hops).items(), reverse=True):
        got = sampler.sample(hops, quota + short, rng)
        short = quota + short - len(got)
        samples += got
    items: list[SynthItem] = []
    seen: set[str] = set()
    for _ in range(3):  # a small graph: say the same chains again, differently
        for s in samples:
            if len(items) >= n:
                break
            said = phraser.phrase(s)
            if said is None or said[0].lower() in seen:
                continue
            seen.add(said[0].lower())
            items.append(_item(s, said, graph, lexicon))
        if len(items) >= n or not samples:
            break
    items = [items[i] for i in rng.permutation(len(items))]
    report = SynthReport.of(
        items,
        shapes_available={h: len(v) for h, v in shapes.items()},
        relation_label=onto.label,
        seconds=time.perf_counter() - start,
    )
    return items, report


def _quotas(n: int, multi_hop: float, max_hops: int) -> dict[int, int]:
    """Questions per hop count: ``1 - multi_hop`` one-hop, the rest split evenly."""
    multi = round(n * multi_hop) if max_hops > 1 else 0
    out = {1: n - multi}
    k = max_hops - 1
    for i, hops in enumerate(range(2, max_hops + 1)):
        out[hops] = multi // k + (1 if i < multi % k else 0)
    return out


def _item(sample, said: tuple[str, str], graph, lexicon) -> SynthItem:
    question, template = said
    R = lexicon.num_relations
    return SynthItem(
        question=question,
        answers=tuple(dict.fromkeys(graph.node_label(int(a)) for a in sample.answers)),
        topic_iri=iri_of(graph.node_term(sample.topic)),
        topic_label=graph.node_label(sample.topic),
        relations=tuple(lexicon.predicates[a % R] for a in sample.actions),
        inverse=tuple(a >= R for a in sample.actions),
        template=template,
    )
