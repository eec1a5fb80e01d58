"""Typed answers: a question's programs executed, and the best one read as an Answer.

The chain reader (:class:`~kgagent.llm.reader.Reader`) answers "which films did X
direct" with the entity set one chain reaches. "How many films did X direct", "did X
direct Y", "the earliest film of X" need an operation on that set: the
:class:`~kgagent.programs.propose.ProgramProposer` turns the question's cues into typed
programs, and :class:`ProgramReader` executes them on the graph's arrays, in order, until
one answers. The answer is typed (``Answer.kind``), cites the facts the program used (the
counted ones for a count, the checked ones for "no", the compared values for a
superlative), and carries the SPARQL query that returns the same answer from the store
(``Answer.sparql``), with the question's values joined in as bindings.

A question without a typed cue gets None: the caller reads its chains as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgagent.programs.executor import ProgramResult, execute
from kgagent.types import Answer, AnswerEntity, Evidence, Fact

__all__ = ["ABSTAIN_TYPED", "ProgramReader", "program_answer"]

#: the text of a typed question nothing in the graph answers
ABSTAIN_TYPED = "I could not find facts in the knowledge graph that answer this."
_MAX_CITED = 10  # answers named in the text; the rest are counted


class ProgramReader:
    """Answers typed questions with programs (None for plain chain questions).

    Args:
        proposer: question + evidence -> ranked typed programs
            (:class:`~kgagent.programs.propose.ProgramProposer`).
        graph: the :class:`~kgagent.programs.graph.ProgramGraph` they run on.
        tries: programs executed per question, best first, until one answers.
        max_walks: the executor's walk cap (a count that hits it abstains).
    """

    def __init__(self, proposer, graph, *, tries: int = 3, max_walks: int = 1_000_000) -> None:
        self.proposer = proposer
        self.graph = graph
        self.tries = int(tries)
        self.max_walks = int(max_walks)

    def read(self, evidences: Sequence[Evidence]) -> list[Answer | None]:
        """Per evidence, its typed Answer, or None where the question is a chain question."""
        return [self.read_one(ev) for ev in evidences]

    def read_one(self, ev: Evidence) -> Answer | None:
        scored = self.proposer.propose(ev.question, ev)
        if not scored:
            return None
        first = None
        for sp in scored[: self.tries]:
            result = execute(sp.program, self.graph, max_walks=self.max_walks)
            first = first or (sp, result)
            if not result.abstained:
                return program_answer(ev.question, sp, result, confidence=_share(scored, sp))
        sp, result = first
        return program_answer(ev.question, sp, result, confidence=0.0)


def program_answer(question: str, scored, result: ProgramResult, *, confidence: float) -> Answer:
    """The Answer of an executed program: typed, grounded, cited, with its SPARQL."""
    from kgagent.kg.bindings import apply_bindings
    from kgagent.programs.sparql import to_sparql

    text, bindings = to_sparql(result.program)
    sparql = apply_bindings(text, bindings) if bindings else text
    if result.abstained:
        return Answer(question=question, text=ABSTAIN_TYPED, entities=(), facts=(), paths=(),
                      confidence=0.0, abstained=True, kind=result.kind,
                      sparql=sparql)  # fmt: skip
    facts = result.facts
    number = {f.id: n for n, f in enumerate(facts, 1)}
    entities = _entities(result, confidence)
    return Answer(
        question=question,
        text=_sentence(result, entities, facts, number),
        entities=entities,
        facts=facts,
        paths=(),
        confidence=confidence,
        abstained=False,
        kind=result.kind,
        sparql=sparql,
    )


def _entities(result: ProgramResult, confidence: float) -> tuple[AnswerEntity, ...]:
    """Entities and values as the answers; a count or a yes/no as one literal answer
    citing every fact the program used."""
    if result.kind in ("number", "boolean"):
        label = result.answers[0]
        cited = tuple(f.id for f in result.facts)
        return (AnswerEntity(iri=label, label=label, score=confidence, facts=cited,
                             is_literal=True),)  # fmt: skip
    return tuple(
        AnswerEntity(
            iri=i.value,
            label=i.value if i.literal else i.label,
            score=confidence,
            facts=i.facts,
            is_literal=i.literal,
        )
        for i in result.items
    )


def _sentence(result, entities, facts: Sequence[Fact], number: dict[int, int]) -> str:
    """One sentence whose every entity and number comes from the executed program."""
    program = result.program

    def refs(ids) -> str:
        return "".join(f"[{number[i]}]" for i in ids if i in number)

    def named(items) -> str:
        parts = [f"{e.label} {refs(e.facts)}".strip() for e in items[:_MAX_CITED]]
        more = len(items) - len(parts)
        return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")

    if result.kind == "number":
        counted = [_item_entity(i) for i in result.items]
        what = f": {named(counted)}" if counted else ""
        return f"{result.number}{what}."
    if result.kind == "boolean":
        said = "Yes" if result.boolean else "No"
        if program.op == "compare":  # each side with the value it was compared on
            sides = [f"{i.label} ({_key(i.key, program)}) {refs(i.facts)}".strip()
                     for i in result.items]  # fmt: skip
            return f"{said}, by {_by(program)}: " + "; ".join(sides) + "."
        if result.boolean and facts:  # the fact that says so
            return f"Yes: {facts[0].text} {refs([facts[0].id])}."
        cited = refs(f.id for f in facts[:_MAX_CITED])
        return f"No: none of the {len(facts)} facts checked says so {cited}".rstrip() + "."
    if program.op in ("argmax", "argmin", "compare"):  # the winner with its value
        return "; ".join(f"{i.label} ({_key(i.key, program)}) {refs(i.facts)}".strip()
                         for i in result.items[:_MAX_CITED]) + "."  # fmt: skip
    return named(list(entities)) + "."


def _key(key: float | None, program=None) -> str:
    """A compared value as a person reads it: a year as 2010 (not 2010.0), a date key
    (year * 10000 + month * 100 + day) as 2010-07-16."""
    if key is None:
        return "no value"
    by = getattr(program, "by", None)
    if by is not None and by.domain == "date":
        k = int(key)
        sign, k = ("-" if k < 0 else ""), abs(k)
        return f"{sign}{k // 10000:04d}-{k // 100 % 100:02d}-{k % 100:02d}"
    return str(int(key)) if float(key).is_integer() else f"{key:g}"


def _item_entity(item) -> Any:
    return AnswerEntity(iri=item.value, label=item.label, score=0.0, facts=item.facts,
                        is_literal=item.literal)  # fmt: skip


def _by(program) -> str:
    from kgagent.kg.ontology import local_name_label

    return local_name_label(program.by.relation) if program.by else "their values"


def _share(scored, chosen) -> float:
    """The chosen program's share of the proposals' scores (softmax), as its confidence."""
    import math

    top = max(s.score for s in scored)
    total = sum(math.exp(s.score - top) for s in scored)
    return math.exp(chosen.score - top) / total
