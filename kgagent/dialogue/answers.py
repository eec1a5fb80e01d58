"""A conversation's answers: one answer from the answers about several entities, and
answers restricted to some entities ("else" leaves the topic out, a refinement keeps
the last answers), with their text and cited facts restricted alike."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from kgagent.types import Answer

__all__ = ["joined", "said", "within", "without"]

MAX_LISTED = 20  # answers a restricted answer's text names (as the reader's does)
_CITE = re.compile(r"\[(\d+)\]")


def said(kind: str, context: dict) -> str:
    names = [e["label"] for e in context.get("entities", [])]
    if not names or kind in ("switch", "new"):
        return ""
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    how = {"reference": "About", "ellipsis": "About", "refinement": "Among"}[kind]
    return f"({how} {shown}, from turn {context['turn'] + 1}.)"


def joined(question: str, answers: Sequence[Answer], leave_out: set[str]) -> Answer:
    """One answer from the answers about each entity: entities in order, facts renumbered."""
    if len(answers) == 1:
        return without(answers[0], leave_out)
    facts, numbers, entities, texts = [], {}, {}, []
    for a in answers:
        local = {}
        for n, f in enumerate(a.facts, 1):
            if f.id not in numbers:
                facts.append(f)
                numbers[f.id] = len(facts)
            local[n] = numbers[f.id]
        for e in a.entities:
            if e.iri not in leave_out:
                entities.setdefault(e.iri, e)
        if not a.abstained:
            texts.append(_CITE.sub(lambda m, loc=local: f"[{loc.get(int(m.group(1)), '?')}]",
                                   a.text))  # fmt: skip
    first = answers[0]
    return dataclasses.replace(
        first,
        text=" ".join(texts) if texts else first.text,
        entities=tuple(entities.values()),
        facts=tuple(facts),
        paths=tuple(p for a in answers for p in a.paths),
        confidence=min(a.confidence for a in answers),
        abstained=not entities and all(a.abstained for a in answers),
        sparql=None,
    )


def without(answer: Answer, leave_out: set[str]) -> Answer:
    """The answer less the entities in ``leave_out`` ("what else"), text and facts too."""
    if not leave_out or not any(e.iri in leave_out for e in answer.entities):
        return answer
    return _restricted(answer, tuple(e for e in answer.entities if e.iri not in leave_out))


def within(answer: Answer, keep: set[str]) -> Answer:
    """The answer's entities that are among ``keep`` (a refinement never leaves the last
    answers); an abstention if none is."""
    if answer.kind in ("number", "boolean"):
        return answer
    kept = tuple(e for e in answer.entities if e.iri in keep)
    if kept:
        return _restricted(answer, kept) if len(kept) < len(answer.entities) else answer
    return dataclasses.replace(
        answer, entities=(), facts=(), paths=(), abstained=True, confidence=0.0,
        text="None of the last answers fits this.", sparql=None,
    )  # fmt: skip


def _restricted(answer: Answer, entities: tuple) -> Answer:
    """The answer with only ``entities``: its facts those they cite, renumbered, its text
    listing them as the reader does; no SPARQL (the query returns the unrestricted set)."""
    if not entities:
        return dataclasses.replace(answer, entities=(), facts=(), paths=(), abstained=True,
                                   confidence=0.0, text="Nothing else.", sparql=None)  # fmt: skip
    cited = {i for e in entities for i in e.facts}
    facts = tuple(f for f in answer.facts if f.id in cited)
    number = {f.id: n for n, f in enumerate(facts, 1)}
    parts = [
        f"{e.label} {''.join(f'[{number[i]}]' for i in e.facts if i in number)}".strip()
        for e in entities[:MAX_LISTED]
    ]
    more = len(entities) - len(parts)
    text = "; ".join(parts) + (f"; and {more} more" if more > 0 else "") + "."
    iris = {e.iri for e in entities}
    return dataclasses.replace(
        answer, entities=entities, facts=facts, text=text, sparql=None,
        paths=tuple(p for p in answer.paths if p.entities and p.entities[-1] in iris),
    )  # fmt: skip
