"""The program proposer: a question and the pipeline's evidence -> ranked typed programs.

The pipeline already answers what a question's noun phrase asks ("the films X directed"):
its ranked chain candidates. The proposer wraps them in what the rest of the question
asks, read from English cues (:mod:`kgagent.programs.cues`) and the graph:

* "how many" -> ``count`` of the best chain from the topic;
* a question opened by an auxiliary -> ``exists``: a chain from one linked entity that
  reaches the other (found in the graph, one or two hops) or the chain the question's
  words ask for (which then answers "no"); with an order word ("before", "older than")
  and two entities that both hold a value, ``compare`` with ``<`` / ``>``;
* two entities side by side ("A or B") and an order word -> ``compare`` min / max;
* an order word and one topic -> ``argmin`` / ``argmax`` of the chain's answers;
* a number outside the mentions ("in 1993", "before 1990") -> a value constraint;
* a second linked entity -> an entity constraint through the relation path by which the
  chain's answers reach it.

Relations are chosen by the graph first (a value relation must hold values for the
entities at hand; a constraint path must join them) and by relevance second: the
relation's phrasing against the question (dense similarity plus stem overlap, as
:class:`~kgagent.pipeline.relevance.RelationRelevance` scores it), with temporal cues
preferring temporal values. A plain chain question (no cue) gets no program: the caller
reads the chain candidates as before.

Scores add up on one scale per question: the base chain's rank among the pipeline's
candidates, the link scores, the relevance of each relation a program adds, and a
penalty for what the graph says cannot hold (a constraint nothing passes).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from kgagent.pipeline.ranker import says_sharing
from kgagent.pipeline.relevance import RelationRelevance
from kgagent.programs.align import WindowAligner
from kgagent.programs.bases import RANK_STEP, Base, BaseChains
from kgagent.programs.cues import JOINING_WORDS, Cues, NumberCue, read_cues
from kgagent.programs.mentions import Mention, masked_text, overlap, read_mentions
from kgagent.programs.relations import Classes, Holding, Paths, ValueRelations
from kgagent.programs.types import (
    EntityConstraint,
    Program,
    ProgramError,
    ValueConstraint,
    ValueOf,
)
from kgagent.programs.values import parse_value
from kgagent.text import content_stems, words
from kgagent.types import Evidence

__all__ = ["ProgramProposer", "ScoredProgram"]

CONFIDENT_LINK = 0.8  # least link score of a second entity that constrains the answers
RANK_TIE = 0.05  # the same, where an entity constraint's alignment also weighs the chain
LINK_WEIGHT = 0.5  # weight of the link scores
HOP_COST = 0.2  # what each extra hop of an exists chain must earn in relevance
CONSTRAINED_HOP_COST = 0.4  # each hop beyond one per entity, where two entities constrain
REACH_BONUS = 0.1  # an exists chain the graph shows reaching the target
TEMPORAL_WEIGHT = 0.4  # a temporal cue on a temporal relation (or neither), else minus
COVER_WEIGHT = 0.5  # weight of the share of entities that hold the value
EMPTY_PENALTY = 1.0  # constraints that no answer passes (where that is no answer)
SIDE_BY_SIDE_BONUS = 0.5  # two entities joined by "or" / "and" are compared
ODD_KIND_PENALTY = 0.3  # an exists chain whose answers have no edge the target has
TYPE_WEIGHT = 0.3  # a base chain whose answers are of a class the question names
KIND_SAMPLE = 50  # answers whose edges say what kind of thing a chain reaches
MIN_COVERAGE = 0.5  # least share of the answers holding the value ordered or compared by
VALUE_OPTIONS = 2  # alternatives kept per constraint and per ordering relation


@dataclass(frozen=True)
class ScoredProgram:
    """A proposed program.

    Attributes:
        program: what to execute.
        score: higher is better; comparable across the programs of one question.
        cue: what in the question asked for its operation ("how many", "did",
            "earliest", "in 1993", "before").
    """

    program: Program
    score: float
    cue: str


#: the pipeline's first chains a program typed only by a second entity must narrow (its
#: base chain is one of them, or their first hops)
TOP_READINGS = 5


@dataclass
class _Question:
    """One question as the builders read it."""

    text: str
    cues: Cues
    entities: list[Mention]  # topics and constraining entities, best first
    targets: list[Mention]  # entities a yes/no question may ask about (years too)
    values: list[NumberCue]  # numbers that constrain a value
    relevance: np.ndarray  # (2R,) each relation direction against the question
    evidence: Evidence
    words: str  # the question without mentions, numbers and cue words
    windows: tuple[np.ndarray, list[tuple[int, int]]] | None = None  # WindowAligner.sims
    bases: dict[str, list[Base]] = field(default_factory=dict)  # per topic IRI


class ProgramProposer:
    """Proposes typed programs for the questions a plain chain does not answer.

    Args:
        graph: the :class:`~kgagent.programs.graph.LocalProgramGraph` programs run on.
        encoder: ``encode(list[str]) -> (n, d)`` unit vectors (the pipeline's encoder).
        relation_terms: (R,) the relations as N-Triples IRIs ``<...>``.
        relation_texts: (2R,) how each relation reads, forward then inverse.
        relation_vectors: (2R, d) unit encoder vectors of ``relation_texts``.
        lexical: weight of the stem overlap beside the cosine (the pipeline's).
    """

    def __init__(
        self,
        graph,
        encoder,
        relation_terms: Sequence[str],
        relation_texts: Sequence[str],
        relation_vectors: np.ndarray,
        *,
        lexical: float = 0.5,
    ) -> None:
        if len(relation_texts) != 2 * len(relation_terms):
            raise ProgramError(
                f"relation_texts: expected {2 * len(relation_terms)} (forward then inverse "
                f"of {len(relation_terms)} relations), got {len(relation_texts)}"
            )
        self.graph = graph
        self.encoder = encoder
        self.num = len(relation_terms)
        self.relation_terms = list(relation_terms)
        self.relation_texts = list(relation_texts)
        self.relevance = RelationRelevance(relation_texts, relation_vectors, lexical=lexical)
        self.aligner = WindowAligner(encoder, relation_texts, relation_vectors, lexical=lexical)
        self.values = ValueRelations(graph, relation_terms)
        self.paths = Paths(graph, relation_terms)
        self.classes = Classes(graph)
        self.chains = BaseChains(graph, self.paths, link_weight=LINK_WEIGHT)

    def propose(self, question: str, evidence: Evidence) -> list[ScoredProgram]:
        """[] when the question is a plain chain question (no typed cue): the caller then
        reads the chain candidates as today. Otherwise typed programs, best first."""
        q = self._read(question or "", evidence)
        if q is None:
            return []
        if q.cues.yes_no:
            found = self._yes_no(q)
        elif q.cues.order and self._side_by_side(q):
            found = self._comparisons(q, q.cues.order.direction, SIDE_BY_SIDE_BONUS)
            found = found or self._chained(q)
        else:
            found = self._chained(q)
        if not (q.cues.yes_no or q.cues.count or q.cues.order or q.values):
            found = self._narrowing(q, found)
        return _ranked(found)

    def _narrowing(self, q: _Question, found: list[ScoredProgram]) -> list[ScoredProgram]:
        """Where only a second entity made the question typed, the programs that filter
        one of the chains the pipeline ranked first, or their first hops: "films directed
        by X that star Y" narrows X's films (read by the pipeline as X -directed->
        -starring-> Y) by one relation to Y; "who in the world wrote X", where "world"
        links to a tag, is still X's writers, not a chain to the tag through a genre the
        two share (a longer constraint needs a typed cue to be believed)."""
        top = {  # the chains and their first hops: "X directed -> starring" read by the
            (c.topic, tuple(zip(c.relations, c.inverse, strict=True))[:k])  # pipeline is
            for c in q.evidence.candidates[:TOP_READINGS]  # "X's films", then a filter
            for k in range(1, c.hops + 1)
        }
        sharing = says_sharing(words(q.text))

        def plain(c) -> bool:  # one relation to the entity, or "the same <r> as" it
            hops = getattr(c, "hops", ())
            return len(hops) <= 1 or (sharing and len(hops) == 2 and _walks_back(hops))

        return [
            sp
            for sp in found
            if (sp.program.chain.topic, sp.program.chain.hops) in top
            and all(plain(c) for c in sp.program.constraints)
        ]

    # -- reading the question -------------------------------------------------------------

    def typed_text(self, question: str, entities: Sequence) -> str | None:
        """The text a typed question's relations are scored on (its mentions, numbers
        and cue words masked), None for a plain chain question; the pipeline encodes it
        in the question's batch (``QuestionPipeline(side_text=)``)."""
        parsed = self._parse(question or "", entities)
        return parsed[-1] if parsed is not None else None

    def _parse(self, question: str, entities: Sequence):
        """(cues, mentions, entities, values, masked text) of a typed question, or None."""
        cues = read_cues(question)
        numbers = [(n.start, n.end) for n in cues.numbers]
        mentions = read_mentions(question, entities, self.graph.node, cues.spans(), numbers)
        names = [m for m in mentions if not m.numeric]
        cues = cues.outside([m.span for m in names])
        values = list(cues.numbers)
        found = names or mentions[:1]  # a year alone is the topic ("films of 1993")
        if not names:
            values = [v for v in values if all(not overlap((v.start, v.end), m.span)
                                               for m in found)]  # fmt: skip
        typed = cues.yes_no or cues.count or cues.order or values
        confident = any(m.score >= CONFIDENT_LINK and m.start >= 0 for m in found[1:])
        if not found or not (typed or confident):
            return None
        spans = [m.span for m in mentions] + [(v.start, v.end) for v in values]
        return cues, mentions, found, values, spans, masked_text(question, spans)

    def _read(self, question: str, evidence: Evidence) -> _Question | None:
        """The question's mentions, cues and relation relevance; None when it has no
        entity to start from or no typed cue."""
        parsed = self._parse(question, evidence.entities)
        if parsed is None:
            return None
        cues, mentions, entities, values, spans, masked = parsed
        vec = evidence.vectors.get(masked)  # encoded with the question by the pipeline
        if vec is None:
            vec = np.asarray(self.encoder.encode([masked]), dtype=np.float32)[0]  # (d,)
        relevance = self.relevance.scores(masked, vec)  # (2R,)
        both = np.maximum(relevance[: self.num], relevance[self.num :])  # (R,) either way
        names = [m for m in mentions if not m.numeric]
        targets = sorted(names + [m for m in mentions if m.numeric], key=lambda m: -m.score)
        plain = masked_text(question, spans + cues.spans())
        return _Question(question, cues, entities, targets, values,
                         np.concatenate([both, both]), evidence, plain)  # fmt: skip

    def _side_by_side(self, q: _Question) -> bool:
        """The first two entities stand side by side ("A or B", "A and B")."""
        if len(q.entities) < 2:
            return False
        a, b = q.entities[0], q.entities[1]
        return set(q.cues.between(a.span, b.span)) <= JOINING_WORDS

    # -- base chains ----------------------------------------------------------------------

    def _bases(self, q: _Question, topic: Mention) -> list[Base]:
        """The chains a program from ``topic`` may wrap (computed once per question)."""
        if topic.iri not in q.bases:
            fit = partial(self._type_fit, q)
            q.bases[topic.iri] = self.chains.of(topic, q.evidence.candidates, q.relevance, fit)
        return q.bases[topic.iri]

    def _type_fit(self, q: _Question, answers: np.ndarray) -> float:
        """+TYPE_WEIGHT where the answers' classes are named in the question ("films"),
        minus that where the question names a class of the graph but not theirs."""
        stems = content_stems(q.words)
        theirs = self.classes.of(answers[:KIND_SAMPLE])
        if stems & theirs:
            return TYPE_WEIGHT
        return -TYPE_WEIGHT if theirs and stems & self.classes.all() else 0.0

    # -- programs over a chain: count, superlative, constraints -----------------------------

    def _chained(self, q: _Question, op: str | None = None) -> list[ScoredProgram]:
        """Programs that wrap a base chain: ``op`` (count, argmin / argmax, entities, or
        exists without a target) with the value and entity constraints the question has."""
        order = q.cues.order
        if op is None:
            op = "count" if q.cues.count else ("arg" + order.direction if order else "entities")
        cue = q.cues.count if op == "count" else (order.word if op.startswith("arg") else "")
        cue = cue or q.cues.yes_no or ""
        others = [m for m in q.entities[1:2] if m.score >= CONFIDENT_LINK]
        if op == "count" and not others and self._asks_a_number(q, q.entities[0]):
            return []  # "how many minutes does X run": the chain's value is the answer
        out: list[ScoredProgram] = []
        for topic in q.entities[: 1 + len(others)]:
            rest = [m for m in (q.entities[0], *others) if m is not topic]
            for base in self._bases(q, topic):
                out += self._wrapped(q, op, cue, topic, base, rest)
        if op == "entities":
            out = [p for p in out if p.program.constraints]
        elif others and not out and all(_common_noun(q.text, m) for m in others):
            out = self._chained_alone(q, op, cue)
        return out

    def _chained_alone(self, q: _Question, op: str, cue: str) -> list[ScoredProgram]:
        """``op`` over the first topic's chains with no entity constraint: the second
        entity was a common noun the graph also names ("the earliest film by X", where
        "film" is a tag an untrained linker links with confidence) and the graph joins the
        answers to it by no path. A named second entity that nothing reaches gets no
        program instead ("how many films did X make with Y" is not X's count)."""
        topic = q.entities[0]
        return [sp for b in self._bases(q, topic) for sp in self._wrapped(q, op, cue, topic, b, [])]

    def _asks_a_number(self, q: _Question, topic: Mention) -> bool:
        """The words after "how many" name the relation of the pipeline's best chain from
        ``topic``, whose values are literal numbers ("how many minutes does X run")."""
        best = next((c for c in q.evidence.candidates if c.topic == topic.iri), None)
        if best is None or not best.answers or q.cues.count_span is None:
            return False
        values = [v for v, _ in best.answers]
        if any(self.graph.node(v) is not None or parse_value(v)[0] == "text" for v in values):
            return False
        after = [t.text for t in q.cues.tokens if t.start >= q.cues.count_span[1]][:2]
        return bool(content_stems(" ".join(after)) & content_stems(" ".join(best.relation_labels)))

    def _wrapped(self, q, op, cue, topic, base: Base, others) -> list[ScoredProgram]:
        """Every combination of the constraints' best options (and, one at a time, their
        second best) on one base chain."""
        groups = []
        for v in q.values:
            found = self._value_constraints(q, base, v)
            if not found:
                return []  # the base chain's answers hold no value to compare it with
            groups.append(found)
        for o in others:
            found = self._entity_constraints(q, base, topic, o)
            if not found:
                return []  # the base chain's answers never reach the other entity
            groups.append(found)
        combos = [[g[0] for g in groups]]
        for i, g in enumerate(groups):
            combos += [[*(h[0] for h in groups[:i]), alt, *(h[0] for h in groups[i + 1 :])]
                       for alt in g[1:]]  # fmt: skip
        out = []
        for combo in combos:
            passed = base.answers
            for _, _, _, nodes in combo:
                passed = np.intersect1d(passed, nodes)
            constraints = tuple(c for c, _, _, _ in combo)
            score = base.score + sum(s for _, s, _, _ in combo)
            if others:  # the alignment weighs the chain against its own words instead
                score += (RANK_STEP - RANK_TIE) * base.rank
                hops = len(base.ks) + sum(len(c.hops) for c in constraints if c.kind == "entity")
                score -= CONSTRAINED_HOP_COST * (hops - 1 - len(others))
            if op not in ("count", "exists"):  # there, nothing passing says "0" / "no"
                score -= EMPTY_PENALTY * (len(passed) == 0)
            cues = " ".join(dict.fromkeys(x for x in (cue, *(w for _, _, w, _ in combo)) if x))
            if op.startswith("arg"):
                for by, by_score in self._orderings(q, base, passed if len(passed) else None):
                    p = _program(op=op, chain=base.chain, constraints=constraints, by=by)
                    out += [ScoredProgram(p, score + by_score, cues)] if p else []
            else:
                p = _program(op=op, chain=base.chain, constraints=constraints)
                out += [ScoredProgram(p, score, cues)] if p else []
        return out

    def _holding(self, base: Base, nodes: np.ndarray | None = None) -> list[Holding]:
        """The value relations held by most of ``nodes`` (the base's answers), but not the
        relation of the chain's last hop: its answers are those values, not holders."""
        last = self.paths.hops[base.ks[-1]][0]
        found = self.values.holding(base.answers if nodes is None else nodes)
        return [h for h in found if h.coverage >= MIN_COVERAGE and h.relation.relation != last]

    def _value_constraints(self, q: _Question, base: Base, v: NumberCue):
        """(constraint, score, cue, passing answers) per value relation of the answers."""
        answers = base.answers
        out = []
        for h in self._holding(base):
            r = h.relation
            passed = self.values.passing(r, answers, v.op, v.value)
            score = self._value_fit(q, h, v.year_like)
            c = ValueConstraint(r.relation, v.op, v.value, inverse=r.inverse)
            out.append((c, score, v.cue, passed))
        out.sort(key=lambda x: -x[1])
        return out[:VALUE_OPTIONS]

    def _entity_constraints(self, q: _Question, base: Base, topic: Mention, other: Mention):
        """(constraint, score, cue, passing answers) per path joining the base chain's
        answers to ``other``, scored by how well the question's words ask for both the
        chain and the path, each relation with its own words (the ranker chose the chain
        reading every word, those that ask for the path too)."""
        if q.windows is None:
            q.windows = self.aligner.sims(q.words)
        sharing = says_sharing(words(q.text))
        out = []
        for ks, passed in self.paths.reaching(base.answers, other.node):
            hops = tuple(self.paths.hops[k] for k in ks)
            if not sharing and _walks_back(hops):  # "shares a year with X": only if said
                continue
            slots = [(k, topic.span) for k in base.ks] + [(k, other.span) for k in ks]
            score = self.aligner.align(*q.windows, slots) + LINK_WEIGHT * other.score
            try:
                out.append((EntityConstraint(other.iri, hops), score, other.label, passed))
            except ProgramError:
                continue
        out.sort(key=lambda x: -x[1])
        return out[:VALUE_OPTIONS]

    def _orderings(self, q: _Question, base: Base, nodes) -> list[tuple[ValueOf, float]]:
        """(what to order by, score) per value relation the nodes hold (None: the base's
        answers)."""
        temporal = q.cues.order.temporal if q.cues.order else None
        out = []
        for h in self._holding(base, nodes):
            r = h.relation
            by = ValueOf(r.relation, inverse=r.inverse, domain=h.domain)
            out.append((by, self._value_fit(q, h, temporal)))
        out.sort(key=lambda x: -x[1])
        return out[:VALUE_OPTIONS]

    # -- yes / no and comparisons --------------------------------------------------------------

    def _yes_no(self, q: _Question) -> list[ScoredProgram]:
        """Whether A < / > B on a value; whether a chain from one entity reaches the
        other; whether any answer of the topic's chain passes the question's values."""
        if len(q.targets) >= 2:
            a, b = sorted(q.targets[:2], key=lambda m: m.start)
            found = []
            if q.cues.order:
                order = "<" if q.cues.order.direction == "min" else ">"
                found = self._comparisons(q, order, SIDE_BY_SIDE_BONUS, pair=(a, b))
            return found + self._exists(q, a, b) + self._exists(q, b, a)
        if q.values:
            return self._chained(q, "exists")
        return [
            ScoredProgram(p, base.score - EMPTY_PENALTY, q.cues.yes_no or "")
            for base in self._bases(q, q.entities[0])[:1]
            if (p := _program(op="exists", chain=base.chain)) is not None
        ]

    def _exists(self, q: _Question, topic: Mention, target: Mention) -> list[ScoredProgram]:
        """Exists programs from ``topic`` to ``target``: every short path the graph has
        between them, and the chains the question asks for from the topic (the pipeline's
        and the most relevant single relations) whose answers could be the target."""
        reach = set(self.paths.between(topic.node, target.node))
        bases = {b.ks: b.answers for b in self._bases(q, topic)}
        # a "no" from a chain whose answers are never of the target's kind says little
        kind = self.paths.kinds(np.array([target.node]))
        kinds = self.paths.kinds
        odd = {ks for ks, found in bases.items() if not kind & kinds(found[:KIND_SAMPLE])}
        link = LINK_WEIGHT * (topic.score + target.score) / 2
        out = []
        for ks in reach | set(bases):
            chain = self.chains.chain(topic.iri, ks)
            score = self._fit(q, ks) + REACH_BONUS * (ks in reach) + link
            score -= ODD_KIND_PENALTY * (ks in odd and ks not in reach)
            p = _program(op="exists", chain=chain, target=target.iri) if chain else None
            out += [ScoredProgram(p, score, q.cues.yes_no or "")] if p else []
        return out

    def _comparisons(self, q: _Question, order: str, bonus: float, pair=None):
        """Compare two entities on each value relation both hold."""
        a, b = pair or (q.entities[0], q.entities[1])
        if a.node == b.node:
            return []
        temporal = q.cues.order.temporal if q.cues.order else None
        link = LINK_WEIGHT * (a.score + b.score) / 2
        out = []
        for h in self.values.holding(np.array([a.node, b.node])):
            if h.coverage < 1.0:
                continue
            r = h.relation
            by = ValueOf(r.relation, inverse=r.inverse, domain=h.domain)
            p = _program(op="compare", pair=(a.iri, b.iri), order=order, by=by)
            score = self._value_fit(q, h, temporal) + link + bonus
            out += [ScoredProgram(p, score, q.cues.order.word if q.cues.order else "")] if p else []
        return out

    # -- relevance ------------------------------------------------------------------------------

    def _fit(self, q: _Question, ks: Sequence[int]) -> float:
        """How well a relation path fits the question: its hops' mean relevance, each
        extra hop costing ``HOP_COST``."""
        return float(np.mean([q.relevance[k] for k in ks])) - HOP_COST * (len(ks) - 1)

    def _value_fit(self, q: _Question, h: Holding, temporal: bool | None) -> float:
        """A value relation's relevance, its coverage, and whether its temporality is
        what the cue asks for (None: the cue does not say)."""
        score = float(q.relevance[h.relation.index]) + COVER_WEIGHT * h.coverage
        if temporal is not None:
            score += TEMPORAL_WEIGHT * (1.0 if h.relation.temporal == temporal else -1.0)
        return score


def _program(**fields) -> Program | None:
    """The program, or None where the graph's IRIs or hops make it malformed."""
    try:
        return Program(**fields)
    except ProgramError:
        return None


def _ranked(found: list[ScoredProgram]) -> list[ScoredProgram]:
    """Best first, each distinct program once (its best score)."""
    best: dict[str, ScoredProgram] = {}
    for p in sorted(found, key=lambda p: -p.score):
        best.setdefault(json.dumps(p.program.to_dict(), sort_keys=True), p)
    return list(best.values())


def _common_noun(question: str, m: Mention) -> bool:
    """The mention is written in lower case, as English writes common nouns ("film",
    "comedy") and not names; a whole-question match (no span) is not."""
    text = question[m.start : m.end] if m.start >= 0 else ""
    return bool(text) and text == text.lower() and any(ch.isalpha() for ch in text)


def _walks_back(hops) -> bool:
    """Whether a path walks a relation and straight back along it (the answer shares
    that relation's value with the anchor): the ranker's rule for such loops."""
    return any(a[0] == b[0] and a[1] != b[1] for a, b in itertools.pairwise(hops))
