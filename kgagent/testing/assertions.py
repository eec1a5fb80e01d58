"""Assertions about answers, for tests of applications built on kgagent.

An agent's promise is that every answer can be traced to triples in the user's own
graph. ``assert answer.labels == [...]`` checks the answer, not the promise: these check
the promise against the store itself (SPARQL ``ASK`` with bindings, never formatted
strings), and fail with a message that names the question, what was expected and what
the answer had, so a red CI run can be read without a debugger.

Each raises :class:`AssertionError` and hides its own frame (``__tracebackhide__``), so
pytest points at the line of the user's test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kgagent.types import Answer, AnswerEntity, Fact

__all__ = ["assert_abstains", "assert_cites", "assert_grounded", "checked_against"]

#: the agent ``assert_grounded`` checks when it is given none (set by ``kg_agent``)
_CURRENT: ContextVar[Any] = ContextVar("kgagent_testing_agent", default=None)
_SHOWN = 8  # cited facts listed in a message; more are counted
_CITATION = re.compile(r"\[(\d+)\]")
_COMPUTED = ("number", "boolean")  # answer kinds whose one "entity" is a computed value


@contextmanager
def checked_against(agent: Any) -> Iterator[Any]:
    """Within the block, :func:`assert_grounded` without ``agent=`` checks ``agent``'s
    store. The ``kg_agent`` fixture wraps each test in it; a fixture of your own that
    builds an agent can do the same."""
    previous = _CURRENT.get()
    _CURRENT.set(agent)
    try:
        yield agent
    finally:
        _CURRENT.set(previous)


def assert_grounded(answer: Answer, agent: Any = None, *, abstain_ok: bool = False) -> None:
    """Every answer is in the graph, every cited fact is in the store, and every ``[n]``
    in the text refers to a cited fact.

    An answer entity is in the graph when its IRI occurs in a triple (a literal value:
    when a cited fact, or any triple, holds it as an object); a count's or a yes/no's
    value is computed, so only its facts are checked. Literal objects are compared by
    their lexical form, as the store holds them.

    Args:
        answer: what ``agent.ask`` returned.
        agent: the :class:`~kgagent.agents.Agent` (or a ``KnowledgeGraph``) whose store
            holds the facts; None: the agent of the running test's ``kg_agent`` fixture
            (or of an enclosing :func:`checked_against`).
        abstain_ok: accept an abstention (it cites nothing, so nothing can be wrong);
            by default an abstention fails, since a test asking for a grounded answer
            expects one.

    Raises:
        AssertionError: listing each problem, the answer and its cited facts.
        TypeError: no agent was given and none is in scope, or it has no store.
    """
    __tracebackhide__ = True
    kg = _store_of(agent)
    if answer.abstained:
        if abstain_ok:
            return
        _fail(
            f"assert_grounded: the agent abstained on {answer.question!r}",
            "a grounded answer (pass abstain_ok=True to accept an abstention)",
            answer,
        )
    problems = _citation_problems(answer)
    for n, fact in enumerate(answer.facts, 1):
        if not _fact_in_store(kg, fact):
            problems.append(f"cited fact [{n}] is not in the store: {_triple(fact)}")
    if answer.kind not in _COMPUTED:
        for entity in answer.entities:
            if not _entity_in_graph(kg, entity, answer.facts):
                what = "value" if entity.is_literal else "entity"
                problems.append(f"answer {entity.label!r} is no {what} of the graph: "
                                f"{_term(entity.iri, entity.is_literal)}")  # fmt: skip
    if problems:
        _fail(
            f"assert_grounded: the answer to {answer.question!r} is not grounded in the graph",
            "every answer in the graph, every cited fact in the store, every [n] a cited fact",
            answer,
            problems,
        )


def assert_cites(answer: Answer, triple: Sequence[str | None]) -> Fact:
    """The answer cites a fact matching ``triple``; returns that fact.

    Args:
        answer: what ``agent.ask`` returned.
        triple: (subject, predicate, object), each an IRI (``"https://..."`` or
            ``"<https://...>"``), a label (``"Inception"``, ``"directed by"``; compared
            ignoring case and extra spaces), a literal's lexical form, or None (any).

    Raises:
        AssertionError: naming the triple, the answer and the facts it cites.
        TypeError: ``triple`` is not three parts.
    """
    __tracebackhide__ = True
    if isinstance(triple, str) or len(triple) != 3:
        raise TypeError(f"assert_cites: triple is (subject, predicate, object), got {triple!r}")
    s, p, o = triple
    for fact in answer.facts:
        if (
            _matches(s, fact.subject, fact.subject_label)
            and _matches(p, fact.predicate, fact.predicate_label)
            and _matches(o, fact.object, fact.object_label)
        ):
            return fact
    _fail(
        f"assert_cites: the answer to {answer.question!r} does not cite {tuple(triple)!r}",
        "a cited fact whose subject, predicate and object each match an IRI or a label (None: any)",
        answer,
    )
    raise AssertionError  # unreachable: _fail raises (this keeps type checkers sure)


def assert_abstains(answer: Answer) -> None:
    """The agent abstained: it gave no answer and cited no fact.

    Raises:
        AssertionError: naming the question and what the agent answered instead.
    """
    __tracebackhide__ = True
    if not answer.abstained or answer.entities:
        _fail(
            f"assert_abstains: the agent answered {answer.question!r}",
            "an abstention (nothing in the graph supports an answer)",
            answer,
        )


# -- checks ------------------------------------------------------------------------------


def _store_of(agent: Any) -> Any:
    """The graph to check: the agent's ``kg``, a graph itself, or the one in scope."""
    __tracebackhide__ = True
    agent = agent if agent is not None else _CURRENT.get()
    if agent is None:
        raise TypeError(
            "assert_grounded: no agent to check the store of: pass agent=..., "
            "or use the kg_agent fixture"
        )
    kg = getattr(agent, "kg", agent)
    if not callable(getattr(kg, "query", None)):
        raise TypeError(
            f"assert_grounded: agent= is an Agent or a KnowledgeGraph, got a "
            f"{type(agent).__name__}, which has no store to query (a team's facts are in its "
            "members' stores: check a member's answers)"
        )
    return kg


def _citation_problems(answer: Answer) -> list[str]:
    """Each ``[n]`` of the text that names no cited fact, and each answer's supporting
    fact missing from ``answer.facts``."""
    problems: list[str] = []
    text = answer.text
    labels = {e.label for e in answer.entities}
    labels |= {f.subject_label for f in answer.facts} | {f.object_label for f in answer.facts}
    for label in sorted(labels, key=len, reverse=True):  # "Alien [1979]" is no citation
        if label:
            text = text.replace(label, " ")
    for n in dict.fromkeys(int(m) for m in _CITATION.findall(text)):
        if not 1 <= n <= len(answer.facts):
            problems.append(f"[{n}] in the text refers to no cited fact "
                            f"(the answer cites {len(answer.facts)})")  # fmt: skip
    cited = {f.id for f in answer.facts}
    for entity in answer.entities:
        missing = [i for i in entity.facts if i not in cited]
        if missing:
            problems.append(f"answer {entity.label!r} rests on fact ids missing from the "
                            f"cited facts: {missing}")  # fmt: skip
        elif not entity.facts and answer.kind not in _COMPUTED:
            problems.append(f"answer {entity.label!r} cites no fact")
    return problems


def _fact_in_store(kg: Any, fact: Fact) -> bool:
    """ASK the store for the triple; a blank node matches any blank node (its label is
    the store's own), a literal object any literal with the same lexical form."""
    from rdflib import Literal, URIRef

    filters, bindings = [], {}
    for var, value in (("s", fact.subject), ("p", fact.predicate)):
        if value.startswith("_:"):
            filters.append(f"FILTER(isBLANK(?{var}))")
        else:
            bindings[var] = URIRef(value)
    if fact.object_is_literal:
        filters.append("FILTER(isLITERAL(?o) && STR(?o) = ?lex)")
        bindings["lex"] = Literal(fact.object)
    elif fact.object.startswith("_:"):
        filters.append("FILTER(isBLANK(?o))")
    else:
        bindings["o"] = URIRef(fact.object)
    return bool(kg.query(f"ASK {{ ?s ?p ?o {' '.join(filters)} }}", bindings=bindings))


def _entity_in_graph(kg: Any, entity: AnswerEntity, facts: Sequence[Fact]) -> bool:
    from rdflib import Literal, URIRef

    if entity.is_literal:
        if any(f.object_is_literal and f.object == entity.iri for f in facts):
            return True  # the cited fact holding it is checked against the store
        query = "ASK { ?s ?p ?o FILTER(isLITERAL(?o) && STR(?o) = ?v) }"
        return bool(kg.query(query, bindings={"v": Literal(entity.iri)}))
    if entity.iri.startswith("_:"):  # no label to ask by: a cited fact must hold it
        return any(entity.iri in (f.subject, f.object) for f in facts)
    query = "ASK { { ?e ?p ?o } UNION { ?s ?p ?e } }"
    return bool(kg.query(query, bindings={"e": URIRef(entity.iri)}))


def _matches(want: str | None, iri: str, label: str) -> bool:
    if want is None:
        return True
    want = str(want)
    if want.startswith("<") and want.endswith(">"):
        want = want[1:-1]
    return want == iri or _norm(want) == _norm(label)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


# -- messages ----------------------------------------------------------------------------


def _fail(headline: str, expected: str, answer: Answer, problems: Sequence[str] = ()) -> None:
    """Raises the AssertionError: the headline, then indented lines a reader scans."""
    __tracebackhide__ = True
    lines = [headline, f"  expected: {expected}"]
    if problems:
        lines.append("  problems:")
        lines += [f"    - {p}" for p in problems]
    lines += _describe(answer)
    raise AssertionError("\n".join(lines))


def _describe(answer: Answer) -> list[str]:
    """The answer as the lines of a failure message: text, answers, cited facts."""
    state = "abstained" if answer.abstained else f"kind {answer.kind}"
    lines = [f"  answer: {answer.text}  ({state}, confidence {answer.confidence:.2f})"]
    number = {f.id: n for n, f in enumerate(answer.facts, 1)}
    if answer.entities:
        lines.append(f"  answers ({len(answer.entities)}):")
    for e in answer.entities[:_SHOWN]:
        refs = "".join(f"[{number[i]}]" if i in number else f"[id {i}?]" for i in e.facts)
        lines.append(f"    {e.label} {_term(e.iri, e.is_literal)} {refs}".rstrip())
    if len(answer.entities) > _SHOWN:
        lines.append(f"    ... and {len(answer.entities) - _SHOWN} more")
    if not answer.facts:
        lines.append("  cited facts: none")
        return lines
    lines.append(f"  cited facts ({len(answer.facts)}):")
    for n, f in enumerate(answer.facts[:_SHOWN], 1):
        lines += [f"    [{n}] {f.text}", f"        {_triple(f)}"]
    if len(answer.facts) > _SHOWN:
        lines.append(f"    ... and {len(answer.facts) - _SHOWN} more")
    return lines


def _triple(fact: Fact) -> str:
    return " ".join(
        (_term(fact.subject, False), _term(fact.predicate, False),
         _term(fact.object, fact.object_is_literal))
    )  # fmt: skip


def _term(value: str, literal: bool) -> str:
    """N-Triples-like: ``<iri>``, ``"lexical form"``, ``_:blank``."""
    if literal:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value if value.startswith("_:") else f"<{value}>"
