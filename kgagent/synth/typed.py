"""Typed training questions from the graph: counts, yes/no, constraints, superlatives and
comparisons, each with the program that answers it.

The reader's LLM ranks a typed question's programs (:mod:`kgagent.programs.reader`); to
fine-tune it without QA data it needs typed questions with their answers. Each one here
starts from a sampled one-hop chain and its noun phrase, phrased from the ontology as the
chain questions are (:meth:`~kgagent.synth.phrasing.Phraser.noun_phrase`: "the films
directed by X"), and wraps it in a frame of its type:

- count: "how many films directed by X are there";
- exists: "is Y one of the films directed by X" (half "no": Y then answers the same
  relation for another topic);
- value_constraint: "which of the films directed by X are from 1993" (a value relation
  the answers hold, and a value some but not all of them have);
- superlative: "which of the films directed by X has the highest rating";
- comparison: "which has the higher rating, A or B" / "does A have a higher rating
  than B" (two answers with different values);
- two_constraints: "which of the films directed by X are also films starring Y" (a
  second entity that some but not all of the answers reach).

Value relations and whether they are temporal are read from the values (numbers,
dates, years), as the proposer reads them; their words are the pipeline's relation
readings. The gold answers are the program's own result, executed on the graph, so a
question and its answer never disagree. The frames are English, the words of the graph
fill them; nothing is tuned to one dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kgagent.kg.terms import iri_of
from kgagent.programs.executor import execute
from kgagent.programs.types import Chain, EntityConstraint, Program, ValueConstraint, ValueOf
from kgagent.qa import QAItem

__all__ = ["TYPED_KINDS", "TypedItem", "set_samples", "synthesize_typed", "typed_maker"]

TYPED_KINDS = (
    "count",
    "exists",
    "value_constraint",
    "superlative",
    "comparison",
    "two_constraints",
)
MAX_ANSWERS = 30  # larger sets are not asked about (too long to check)
MIN_COVERAGE = 0.8  # least share of the answers holding the value a question orders by
_NEIGHBOURS = 6  # answers whose other edges are searched for a second constraint

#: frames per kind: {np} the noun phrase ("the films directed by X"), {nps} it without
#: "the", {t} a target, {a} / {b} two entities, {v} a value, {rel} a value relation
FRAMES: dict[str, tuple[str, ...]] = {
    "count": (
        "how many {nps} are there",
        "what is the number of {nps}",
        "count {np}",
        "how many {nps}",
    ),
    "exists": ("is {t} one of {np}", "is {t} among {np}", "do {np} include {t}"),
    "value_constraint:time": (
        "which of {np} are from {v}",
        "{np} in {v}",
        "list {np} from {v}",
    ),
    "value_constraint": ("which of {np} have {rel} {v}", "{np} with {rel} {v}"),
    "superlative:time:max": (
        "which of {np} is the latest",
        "what is the most recent of {np}",
        "which of {np} has the latest {rel}",
    ),
    "superlative:time:min": (
        "which of {np} is the earliest",
        "what is the first of {np}",
        "which of {np} has the earliest {rel}",
    ),
    "superlative:max": ("which of {np} has the highest {rel}", "the largest {rel} of {np}"),
    "superlative:min": ("which of {np} has the lowest {rel}", "the smallest {rel} of {np}"),
    "comparison:time:min": (
        "which came first, {a} or {b}",
        "which is older, {a} or {b}",
        "which has the earlier {rel}: {a} or {b}",
    ),
    "comparison:time:max": ("which is more recent, {a} or {b}", "{a} or {b}: which came later"),
    "comparison:min": ("which has the lower {rel}, {a} or {b}",),
    "comparison:max": ("which has the higher {rel}, {a} or {b}",),
    "comparison:time:<": ("is {a} older than {b}", "did {a} come before {b}"),
    "comparison:time:>": ("is {a} more recent than {b}",),
    "comparison:<": ("does {a} have a lower {rel} than {b}",),
    "comparison:>": ("does {a} have a higher {rel} than {b}",),
    "two_constraints": (
        "which of {np} are also {nps2}",
        "{np} that are also {nps2}",
        "which of {np} are among {np2}",
    ),
}


@dataclass(frozen=True)
class TypedItem:
    """A synthesized typed question, its gold answers and the program that gives them."""

    question: str
    answers: tuple[str, ...]
    kind: str
    program: Program

    @property
    def qa(self) -> QAItem:
        return QAItem(self.question, self.answers)


def synthesize_typed(agent: Any, *, n: int = 200, seed: int = 0) -> list[TypedItem]:
    """Up to ``n`` typed questions (kinds in turn) over an indexed agent's graph.

    Fewer on a graph without what a kind needs (no value relations: no superlatives).
    """

    rng = np.random.default_rng(seed)
    maker = typed_maker(agent, rng)
    samples = set_samples(maker, 12 * n)
    builders: dict[str, Callable] = {k: getattr(maker, k) for k in TYPED_KINDS}
    quota = -(-n // len(TYPED_KINDS))
    made: dict[str, list[TypedItem]] = {k: [] for k in TYPED_KINDS}
    seen: set[str] = set()
    used: set[tuple[int, str]] = set()
    for _ in range(3):  # a small graph: each set again, as another kind
        for i, s in enumerate(samples):
            # the kinds with fewest questions first: one that a sample cannot make (no
            # values to order by) does not hold back the others
            for kind in sorted(TYPED_KINDS, key=lambda k: (len(made[k]), rng.random())):
                if len(made[kind]) >= quota or (i, kind) in used:
                    continue
                used.add((i, kind))
                item = builders[kind](s)
                if item is not None and item.question.lower() not in seen:
                    seen.add(item.question.lower())
                    made[kind].append(item)
                    break
            if all(len(v) >= quota for v in made.values()):
                break
    out = [it for k in TYPED_KINDS for it in made[k]]
    return [out[i] for i in rng.permutation(len(out))][:n]


def typed_maker(agent: Any, rng: np.random.Generator, frames: dict | None = None) -> _Maker:
    """What builds typed questions over an indexed agent's graph, phrased in ``frames``
    (default :data:`FRAMES`; a conversation's refinements bring their own)."""
    from kgagent.programs.graph import LocalProgramGraph
    from kgagent.programs.relations import ValueRelations
    from kgagent.retrieval.verbalize import Verbalizer
    from kgagent.synth.chains import chain_graph
    from kgagent.synth.lexicon import Lexicon
    from kgagent.synth.phrasing import Phraser

    r, onto = agent.retriever, agent.kg.ontology
    graph = chain_graph(r, onto)
    lexicon = Lexicon(graph, onto, Verbalizer(onto), list(r.relation_terms))
    program_graph = LocalProgramGraph(r.graph)
    return _Maker(
        graph, lexicon, Phraser(lexicon, rng=rng), program_graph,
        ValueRelations(program_graph, r.relation_terms), list(r.relation_texts), rng,
        frames or FRAMES,
    )  # fmt: skip


def set_samples(maker: _Maker, n: int) -> list:
    """Up to ``n`` one-hop samples of a set (2 to ``MAX_ANSWERS`` answers) to build on."""
    lexicon = maker.lex
    actions = [s[0] for s in lexicon.shapes(1).get(1, []) if s[0] not in lexicon.literal]
    return _set_samples(maker.g, actions, n, maker.rng)


def _set_samples(graph, actions: list[int], n: int, rng: np.random.Generator) -> list:
    """Up to ``n`` one-hop samples with 2 to ``MAX_ANSWERS`` answers each, even over the
    actions (a typed question needs a set to count, filter or order: "the films X
    directed", not "the director of F")."""
    from kgagent.synth.chains import Sample

    A = graph.num_actions
    keys, counts = np.unique(graph.keys, return_counts=True)  # (head * A + action,)
    heads, acts = keys // A, keys % A
    ok = (counts >= 2) & (counts <= MAX_ANSWERS) & graph.good_topic[heads]
    pools = {a: rng.permutation(heads[ok & (acts == a)]) for a in actions}
    pools = {a: p for a, p in pools.items() if len(p)}
    out: list = []
    per = max(1, -(-n // max(1, len(pools))))
    for a, pool in pools.items():
        topics = pool[:per]
        for t, walked in zip(topics.tolist(), graph.walk(topics, (a,), max_walks=500), strict=True):
            ends = walked[0][-1] if walked is not None else ()
            if 2 <= len(ends) <= MAX_ANSWERS and graph.good_answer[ends].all():
                out.append(Sample(int(t), (a,), *walked))
    return [out[i] for i in rng.permutation(len(out))]


class _Maker:
    """Builds one typed question of a kind from a one-hop sample (None if it cannot)."""

    def __init__(self, graph, lexicon, phraser, program_graph, values, texts, rng,
                 frames) -> None:  # fmt: skip
        self.frames = frames
        self.g = graph
        self.lex = lexicon
        self.phraser = phraser
        self.pg = program_graph
        self.values = values
        self.texts = texts
        self.rng = rng
        self.R = lexicon.num_relations
        self._pool: dict[int, list[int]] = {}  # action -> answers seen (for "no" targets)

    # -- the kinds --------------------------------------------------------------------------

    def count(self, s) -> TypedItem | None:
        return self._item("count", s, Program("count", chain=self._chain(s)), "count", {})

    def exists(self, s) -> TypedItem | None:
        pool = self._pool.setdefault(s.actions[0], [])
        answers = s.answers.tolist()
        others = [x for x in pool if x not in set(answers) and x != s.topic]
        pool.extend(answers[:5])
        del pool[:-200]
        say_no = others and self.rng.random() < 0.5
        target = others[int(self.rng.integers(len(others)))] if say_no else self._pick(answers)
        program = Program("exists", chain=self._chain(s), target=self._iri(target))
        return self._item("exists", s, program, "exists", {"t": self.g.node_label(target)})

    def value_constraint(self, s) -> TypedItem | None:
        held = self._held(s)
        if held is None:
            return None
        v, nodes, _ = held
        if v.relation == self._chain(s).hops[0][0]:  # "the films of 1993 from 1993"
            return None
        table = self.pg.values(v.relation, v.inverse)
        _, rows = table.rows_of(nodes)
        texts = sorted({t for t in table.text[rows].tolist() if t})
        if len(texts) < 2:
            return None
        value = texts[int(self.rng.integers(len(texts)))]
        c = ValueConstraint(v.relation, "=", value, inverse=v.inverse)
        program = Program("entities", chain=self._chain(s), constraints=(c,))
        frame = "value_constraint:time" if v.temporal else "value_constraint"
        item = self._item("value_constraint", s, program, frame, self._rel(v, value))
        return item if item is not None and len(item.answers) < len(s.answers) else None

    def superlative(self, s) -> TypedItem | None:
        held = self._held(s)
        if held is None:
            return None
        v = held[0]
        op = "argmax" if self.rng.random() < 0.5 else "argmin"
        by = ValueOf(v.relation, inverse=v.inverse)
        program = Program(op, chain=self._chain(s), by=by)
        frame = f"superlative{':time' if v.temporal else ''}:{op[3:]}"
        item = self._item("superlative", s, program, frame, self._rel(v))
        return item if item is not None and len(item.answers) == 1 else None

    def comparison(self, s) -> TypedItem | None:
        held = self._held(s)
        if held is None:
            return None
        v, _, mine = held
        if len(mine) < 2:
            return None
        a, b = (int(x) for x in self.rng.choice(mine, size=2, replace=False))
        order = ("min", "max", "<", ">")[int(self.rng.integers(4))]
        by = ValueOf(v.relation, inverse=v.inverse)
        program = Program("compare", by=by, pair=(self._iri(a), self._iri(b)), order=order)
        frame = f"comparison{':time' if v.temporal else ''}:{order}"
        fields = {**self._rel(v), "a": self.g.node_label(a), "b": self.g.node_label(b)}
        item = self._item("comparison", s, program, frame, fields)
        if item is None or self.g.node_label(a) == self.g.node_label(b):
            return None
        return item if program.kind == "boolean" or len(item.answers) == 1 else None

    def two_constraints(self, s) -> TypedItem | None:
        answers = s.answers
        first = s.actions[0]
        back = first + self.R if first < self.R else first - self.R
        for e in self.rng.permutation(answers)[:_NEIGHBOURS].tolist():
            for a2 in self.rng.permutation(sorted(self.lex.hops)).tolist():
                if a2 in (first, back) or a2 in self.lex.literal:
                    continue
                ends = self.g.walk(np.array([e]), (a2,), max_walks=200)[0]
                if ends is None:
                    continue
                for y in ends[0][-1][:3].tolist():
                    item = self._constrained(s, a2, int(y))
                    if item is not None:
                        return item
        return None

    def _constrained(self, s, a2: int, y: int) -> TypedItem | None:
        if y == s.topic:
            return None
        rev = a2 + self.R if a2 < self.R else a2 - self.R
        walked = self.g.walk(np.array([y]), (rev,), max_walks=500)[0]
        if walked is None:
            return None
        from kgagent.synth.chains import Sample

        other = Sample(y, (rev,), *walked)
        both = np.intersect1d(s.answers, other.answers)
        if not 0 < len(both) < min(len(s.answers), len(other.answers)):
            return None
        np2 = self.phraser.noun_phrase(other)
        if np2 is None:
            return None
        hop = (self.lex.predicates[a2 % self.R], a2 >= self.R)
        c = EntityConstraint(self._iri(y), (hop,))
        program = Program("entities", chain=self._chain(s), constraints=(c,))
        fields = {"np2": np2, "nps2": np2.removeprefix("the ")}
        item = self._item("two_constraints", s, program, "two_constraints", fields)
        return item if item is not None and len(item.answers) == len(both) else None

    # -- helpers ----------------------------------------------------------------------------

    def _item(self, kind: str, s, program: Program, frame: str, fields: dict) -> TypedItem | None:
        """The question in one of the frame's phrasings, answered by running the program."""
        np_ = self.phraser.noun_phrase(s)
        if np_ is None:
            return None
        result = execute(program, self.pg)
        if result.abstained or not result.answers:
            return None
        frames = self.frames.get(frame)
        if not frames:
            return None
        text = frames[int(self.rng.integers(len(frames)))]
        text = text.format(np=np_, nps=np_.removeprefix("the "), **fields)
        text = text[:1].upper() + text[1:] + ("?" if self.rng.random() < 0.7 else "")
        return TypedItem(text, tuple(result.answers), kind, program)

    def _held(self, s):
        """A value relation most of the answers hold (temporal or not), and its holders
        (program graph nodes, and the same as sample nodes)."""
        mine = s.answers.tolist()
        nodes = [self.pg.node(self._iri(x)) for x in mine]
        if any(x is None for x in nodes):
            return None
        held = [h for h in self.values.holding(np.array(nodes, dtype=np.int64))
                if h.coverage >= MIN_COVERAGE and len(h.covered) >= 2
                and not h.relation.inverse]  # fmt: skip
        if not held:
            return None
        h = held[int(self.rng.integers(len(held)))]
        covered = set(h.covered.tolist())
        return h.relation, h.covered, [x for x, n in zip(mine, nodes, strict=True) if n in covered]

    def _rel(self, v, value: str | None = None) -> dict[str, str]:
        out = {"rel": self.texts[v.index]}
        if value is not None:
            out["v"] = value
        return out

    def _chain(self, s) -> Chain:
        a = s.actions[0]
        return Chain(self._iri(s.topic), ((self.lex.predicates[a % self.R], a >= self.R),))

    def _iri(self, node: int) -> str:
        return iri_of(self.g.node_term(int(node)))

    def _pick(self, items: list[int]) -> int:
        return items[int(self.rng.integers(len(items)))]
