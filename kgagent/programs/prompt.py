"""Prompts for typed programs: one short prompt per executed program, graph text quoted.

The LLM ranks a typed question's programs the way it ranks chain candidates
(:mod:`kgagent.llm.prompt`): one prompt per option, the log-odds of "yes" to "does this
answer the question?". A program reads as its operation in plain words, the chain it
starts from, its constraints, and what executing it gave::

    Question: How many films did Steven Spielberg direct in 1993?
    Program: how many of "Steven Spielberg" → "directed" with "release year" = "1993"
    Result: "2": "Jurassic Park", "Schindler's List"
    Answers it?

so the model judges the whole reading of the question (which relation, which filter,
which operation) against the facts it produced. Every graph text goes through
:func:`~kgagent.llm.prompt.quote`, the one sanitiser of graph text in prompts; the
question's own values (a year, a number) are quoted too. Relation words are the ones
the pipeline reads (``relation_texts``: forward, then inverse), so a chain reads the
same in a program prompt as in a chain prompt, and one adapter learns both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kgagent.kg.terms import iri_of
from kgagent.llm.base import Message
from kgagent.llm.prompt import SYSTEM, prompt_question, quote

__all__ = [
    "ProgramNames",
    "format_key",
    "program_conversation",
    "program_line",
    "result_line",
]

_SHOWN = 2  # answers named in a result line
_OPS = {"argmax": "largest", "argmin": "smallest"}


class ProgramNames:
    """Labels of a program's entities and relations, as the pipeline reads them.

    Args:
        graph: the :class:`~kgagent.programs.graph.ProgramGraph` (labels of nodes).
        relation_terms: (R,) relation IRIs, bracketed (N-Triples) or not.
        relation_texts: (2R,) how each relation reads, forward then inverse.
    """

    def __init__(self, graph, relation_terms: Sequence[str], relation_texts: Sequence[str]) -> None:
        self.graph = graph
        self.num = len(relation_terms)
        self.index = {iri_of(t): i for i, t in enumerate(relation_terms)}
        self.texts = list(relation_texts)

    def relation(self, relation: str, inverse: bool = False) -> str:
        k = self.index.get(relation)
        if k is None:
            from kgagent.kg.ontology import local_name_label

            return local_name_label(relation)
        return self.texts[k + self.num if inverse else k]

    def entity(self, iri: str) -> str:
        node = self.graph.node(iri)
        if node is None:
            return iri
        return self.graph.entities(np.array([node], dtype=np.int64))[0][1]


def program_line(program, names: ProgramNames) -> str:
    """The program in plain words (its operation, chain and constraints), graph text
    quoted: ``how many of "X" → "directed" with "starred actors" → "Y"``."""
    op = program.op
    if op == "compare":
        a, b = (quote(names.entity(i)) for i in program.pair)
        by = quote(names.relation(program.by.relation, program.by.inverse))
        said = {"min": "smaller", "max": "larger", "<": "is smaller", ">": "is larger"}
        how = said[program.order]
        if program.order in ("<", ">"):
            return f"whether {a} {how} than {b} by {by}"
        return f"which of {a} and {b} is {how} by {by}"
    chain = program.chain
    hops = " → ".join(quote(names.relation(r, inv)) for r, inv in chain.hops)
    line = f"{quote(names.entity(chain.topic))} → {hops}"
    conditions = [_constraint(c, names) for c in program.constraints]
    if conditions:
        line += " with " + " and ".join(conditions)
    if op == "count":
        return f"how many of {line}"
    if op == "exists":
        return f"is {quote(names.entity(program.target))} among {line}"
    if op in _OPS:
        by = quote(names.relation(program.by.relation, program.by.inverse))
        return f"{_OPS[op]} {by} of {line}"
    if op == "value":
        return f"the value of {line}"
    return line


def _constraint(c, names: ProgramNames) -> str:
    kind = c.kind
    if kind == "entity":
        hops = " → ".join(quote(names.relation(r, inv)) for r, inv in c.hops)
        return f"{hops} → {quote(names.entity(c.anchor))}"
    if kind == "value":
        return f"{quote(names.relation(c.relation, c.inverse))} {c.op} {quote(c.value)}"
    return f"a {quote(names.entity(c.cls))}"


def result_line(result) -> str:
    """What the program gave: the number, yes / no, or the first answers (+N more)."""
    if result.abstained:
        return "nothing"
    shown = ", ".join(quote(_label(i, result.program)) for i in result.items[:_SHOWN])
    more = result.total - min(len(result.items), _SHOWN)
    tail = f" +{more}" if more > 0 else ""
    if result.kind == "number":
        return f"{quote(str(result.number))}" + (f": {shown}{tail}" if shown else "")
    if result.kind == "boolean":
        return "yes" if result.boolean else "no"
    return f"{shown}{tail}" or "nothing"


def _label(item, program) -> str:
    """An answer, with the value it was ordered or compared by."""
    name = item.value if item.literal else item.label
    return f"{name} ({format_key(item.key, program)})" if item.key is not None else name


def format_key(key: float | None, program=None) -> str:
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


def program_conversation(question: str, result, names: ProgramNames) -> list[Message]:
    """The chat messages asking whether an executed program answers ``question``."""
    user = (
        f"Question: {prompt_question(question)}\n"
        f"Program: {program_line(result.program, names)}\n"
        f"Result: {result_line(result)}\nAnswers it?"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
