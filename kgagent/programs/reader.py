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
from dataclasses import dataclass
from typing import Any

import numpy as np

from kgagent.programs.executor import ProgramResult, execute
from kgagent.programs.prompt import ProgramNames, format_key, program_conversation
from kgagent.types import Answer, AnswerEntity, Candidate, Evidence, Fact

__all__ = ["ABSTAIN_TYPED", "ProgramReader", "program_answer"]

#: the text of a typed question nothing in the graph answers
ABSTAIN_TYPED = "I could not find facts in the knowledge graph that answer this."
_MAX_CITED = 10  # answers named in the text; the rest are counted


class ProgramReader:
    """Answers typed questions with programs (None for plain chain questions).

    Without an LLM the proposer's order decides: its programs are executed best first
    until one answers. With one, the LLM reads each of the first ``options`` programs
    that answer (the program in words and what it gave, :mod:`kgagent.programs.prompt`)
    and scores it like a chain candidate; its log-odds plus the proposer's log-share
    (times ``prior_weight``) pick the answer, and their softmax is its confidence.

    Args:
        proposer: question + evidence -> ranked typed programs
            (:class:`~kgagent.programs.propose.ProgramProposer`).
        graph: the :class:`~kgagent.programs.graph.ProgramGraph` they run on.
        names: labels for the prompts (:class:`~kgagent.programs.prompt.ProgramNames`;
            default: the proposer's relation readings over ``graph``).
        tries: programs executed per question without an LLM, best first, until one
            answers.
        options: answering programs the LLM compares.
        prior_weight: weight of the proposer's ranking beside the LLM's log-odds.
        max_walks: the executor's walk cap (a count that hits it abstains).
    """

    def __init__(
        self,
        proposer,
        graph,
        *,
        names: ProgramNames | None = None,
        tries: int = 3,
        options: int = 4,
        prior_weight: float = 1.0,
        max_walks: int = 1_000_000,
    ) -> None:
        self.proposer = proposer
        self.graph = graph
        self.names = names or ProgramNames(graph, proposer.relation_terms,
                                           proposer.relation_texts)  # fmt: skip
        self.tries = int(tries)
        self.options = int(options)
        self.prior_weight = float(prior_weight)
        self.max_walks = int(max_walks)

    def read(self, evidences: Sequence[Evidence], llm=None) -> list[Answer | None]:
        """Per evidence, its typed Answer, or None where the question is a chain question.
        ``llm``: ranks the answering programs (None: the proposer's order decides)."""
        runs = [self._run(ev, wide=llm is not None) for ev in evidences]
        asks = [i for i, r in enumerate(runs) if r is not None and len(r.answered) > 1]
        odds = self._odds(llm, {i: (evidences[i].question, runs[i]) for i in asks})
        out: list[Answer | None] = []
        for i, (ev, run) in enumerate(zip(evidences, runs, strict=True)):
            if run is None:
                out.append(None)
            elif i in odds:
                out.append(self._by_llm(ev.question, run, odds[i]))
            else:
                out.append(self._by_proposer(ev.question, run))
        return out

    def read_one(self, ev: Evidence, llm=None) -> Answer | None:
        return self.read([ev], llm)[0]

    def narrow(self, question: str, program: dict, entities: Sequence) -> Answer | None:
        """``question`` (a conversation's refinement, "<last question> that came out in
        2005") read as constraints on the chain of ``program`` (the last answer's, as
        ``Answer.program`` holds it), with no retrieval: the chain is the only reading
        the proposer wraps. ``entities``: the question's links. None where the program
        has no chain or the question reads as no constraint on it."""
        from kgagent.programs.types import Program, ProgramError

        try:
            chain = Program.from_dict(program).chain
        except ProgramError:
            return None
        if chain is None:
            return None
        relations = tuple(r for r, _ in chain.hops)
        base = Candidate(topic=chain.topic, topic_label="", relations=relations,
                         inverse=tuple(i for _, i in chain.hops), relation_labels=(),
                         answers=(), total=0, support=())  # fmt: skip
        ev = Evidence(question, (), entities=tuple(entities), candidates=(base,))
        answer = self.read_one(ev)
        return answer if answer is not None and not answer.abstained else None

    def example(self, ev: Evidence, answers: Sequence[str]):
        """The fine-tuning :class:`~kgagent.llm.finetune.Example` of a typed question with
        gold ``answers`` (labels, a number, "yes" / "no"): the prompts of the programs the
        LLM would compare, and which of them gives the gold (0: none does). None for a
        chain question or one with no answering program."""
        from kgagent.llm.finetune import Example, best_match

        run = self._run(ev, wide=True)
        if run is None or not run.answered:
            return None
        convs = [program_conversation(ev.question, r, self.names) for _, r in run.answered]
        target = best_match([r.answers for _, r in run.answered], answers)
        return Example(convs, target)

    # -- steps ---------------------------------------------------------------------------

    def _run(self, ev: Evidence, *, wide: bool) -> _Run | None:
        """The question's programs executed: the first to answer (narrow), or the first
        ``options`` that answer (wide, for the LLM)."""
        scored = self.proposer.propose(ev.question, ev)
        if not scored:
            return None
        first, answered = None, []
        limit = max(self.tries, self.options) if wide else self.tries
        for sp in scored[:limit]:
            result = execute(sp.program, self.graph, max_walks=self.max_walks)
            first = first or (sp, result)
            if not result.abstained:
                answered.append((sp, result))
                if not wide or len(answered) >= self.options:
                    break
        return _Run(scored, first, answered)

    def _odds(self, llm, asked: dict[int, tuple[str, _Run]]) -> dict[int, np.ndarray]:
        """Per question asked (by its index in ``read``), (n,) the LLM's yes/no log-odds
        of its answering programs, all questions' prompts in one batch."""
        if llm is None or not asked:
            return {}
        from kgagent.llm.prompt import NO, YES

        convs = [program_conversation(q, r, self.names)
                 for q, run in asked.values() for _, r in run.answered]  # fmt: skip
        logp = np.asarray(llm.choose(convs, [YES, NO]), dtype=np.float64)  # (sum n, 2)
        logp = np.where(np.isfinite(logp), logp, -1e9)
        odds = logp[:, 0] - logp[:, 1]  # (sum n,)
        out, start = {}, 0
        for i, (_, run) in asked.items():
            n = len(run.answered)
            out[i] = odds[start : start + n]
            start += n
        return out

    def _by_proposer(self, question: str, run: _Run) -> Answer:
        if run.answered:
            sp, result = run.answered[0]
            return program_answer(question, sp, result, confidence=_share(run.scored, sp))
        sp, result = run.first
        return program_answer(question, sp, result, confidence=0.0)

    def _by_llm(self, question: str, run: _Run, odds: np.ndarray) -> Answer:
        scores = np.array([sp.score for sp, _ in run.answered], dtype=np.float64)  # (n,)
        prior = scores - scores.max()
        prior -= np.log(np.exp(prior).sum())
        row = odds + self.prior_weight * prior
        p = np.exp(row - row.max())
        p /= p.sum()
        best = int(np.argmax(p))
        sp, result = run.answered[best]
        return program_answer(question, sp, result, confidence=float(p[best]))


@dataclass(frozen=True)
class _Run:
    """One question's programs: all proposed, the first executed, those that answered."""

    scored: list
    first: tuple
    answered: list


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
        program=result.program.to_dict(),
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
            sides = [f"{i.label} ({format_key(i.key, program)}) {refs(i.facts)}".strip()
                     for i in result.items]  # fmt: skip
            return f"{said}, by {_by(program)}: " + "; ".join(sides) + "."
        if result.boolean and facts:  # the fact that says so
            return f"Yes: {facts[0].text} {refs([facts[0].id])}."
        cited = refs(f.id for f in facts[:_MAX_CITED])
        return f"No: none of the {len(facts)} facts checked says so {cited}".rstrip() + "."
    if program.op in ("argmax", "argmin", "compare"):  # the winner with its value
        return "; ".join(f"{i.label} ({format_key(i.key, program)}) {refs(i.facts)}".strip()
                         for i in result.items[:_MAX_CITED]) + "."  # fmt: skip
    return named(list(entities)) + "."


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
