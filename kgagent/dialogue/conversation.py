"""A conversation with an agent: follow-up questions resolved against the dialogue state.

Peers pass the chat history to the LLM and retrieve as if each question stood alone, so
"what else did they direct?" retrieves nothing about anyone. Here the state is a set of
entities (:mod:`kgagent.dialogue.state`), so a follow-up is rewritten into
a question that stands alone and asked through the same pipeline as any other:

- a reference ("they", "that director", "those films", "it") is replaced by what it
  refers to: the last answers, or the last topic, by agreement (a "who" question's
  answers are people; "it" is a thing, never a year or a count). Several answers are
  asked about one by one and their answers joined;
- an ellipsis ("and the release year?", "what about its genre?") gets the last topic;
- a refinement ("which of them came out in 2006?", "only the comedies?") is asked as the
  last question narrowed ("<last question>, which came out in 2006"), so the typed
  programs read it as a constraint, and its answers are kept only where they are among
  the last answers;
- a question naming a new entity, without a reference, stands alone ("switch").

Every answer says what it took from the state: ``Answer.context`` (the turn, the reading,
the entities used) and a first sentence in ``Answer.text``.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgagent.dialogue.followup import (
    THEY,
    FollowUp,
    Ref,
    asks_people,
    read_followup,
    same_kind,
    strip_opening,
    they_act,
    value_like,
)
from kgagent.dialogue.state import MAX_ANSWERS, DialogueState, Turn
from kgagent.types import Answer

__all__ = ["Conversation"]

CONFIDENT_LINK = 0.8  # a named entity this sure switches the topic
MAX_LISTED = 20  # answers a restricted answer's text names (as the reader's does)
HUB_RATIO = 10.0  # entities a relation leaves from per entity it reaches: a category
MAX_FANOUT = 8  # last answers a reference to several asks about
_CITE = re.compile(r"\[(\d+)\]")
_ANNOUNCED = re.compile(r"\s*[:,\u2013\u2014-]")  # a name set off before the question


class Conversation:
    """Questions asked in turn, each read against the turns before it.

    Args:
        agent: what answers: an :class:`~kgagent.agents.Agent`, a
            :class:`~kgagent.team.Team`, or anything with ``ask``, ``ask_batch`` and
            ``link(question, top_k)`` (entities with IRI, label, span and score).
        state: a saved :class:`DialogueState` (``to_dict`` / ``from_dict``) to go on from.
    """

    def __init__(self, agent: Any, state: DialogueState | None = None) -> None:
        self.agent = agent
        self.state = state or DialogueState()
        self._lock = threading.Lock()  # one turn at a time: each reads the last

    @classmethod
    def resume(cls, agent: Any, state: dict[str, Any] | None = None) -> Conversation:
        """A conversation with ``agent``, going on from a saved ``to_dict()`` (checked)."""
        return cls(agent, DialogueState.from_dict(state) if state is not None else None)

    def ask(self, question: str) -> Answer:
        with self._lock:
            answer, turn = self._read(question)
            self.state.add(turn)
            return answer

    def reset(self) -> None:
        with self._lock:
            self.state = DialogueState()

    def to_dict(self) -> dict[str, Any]:
        return self.state.to_dict()

    # -- reading a turn ---------------------------------------------------------------------

    def _read(self, question: str) -> tuple[Answer, Turn]:
        last = self.state.last
        if last is None:
            return self._alone(question, "first")
        fu = read_followup(question)
        if fu.refine and len(last.answers) >= 2 and not last.literal:
            return self._refine(question, fu, last)
        refs = fu.refs or tuple(
            r for r in fu.definite if same_kind(r.noun, last.question, self._similar)
        )  # "who directed the movie?" after a question about movies
        if refs:
            ref = refs[0]
            announced = self._announced(question, fu, ref)
            if announced:  # "A Civil Action: who directed it?" is about A Civil Action
                return self._alone(question, "switch", announced)
            if self._means_answers(question, ref, last, fu):
                return self._about(question, fu, ref, list(last.answers), "reference")
            topic = self._topic_for(ref)
            if topic is not None:
                return self._about(question, fu, ref, [topic], "ellipsis")
        named = self._named(question, fu)
        if named:  # its best link is the new topic (no second linking)
            return self._alone(question, "switch", named)
        if self.state.topic is not None and (fu.lead or fu.other):
            return self._ellipsis(question, fu, self.state.topic)
        return self._alone(question, "new")

    def _announced(self, question: str, fu: FollowUp, ref: Ref) -> list:
        """Named entities set off before the reference ("A Civil Action: who directed
        it?", "Heat, who starred in it?"): the question announces its own topic."""
        if not _ANNOUNCED.search(question[: ref.start]):
            return []
        return [m for m in self._named(question, fu) if m.end <= ref.start
                and _ANNOUNCED.match(question[m.end : ref.start])]  # fmt: skip

    def _named(self, question: str, fu: FollowUp) -> list:
        """Entities the question names confidently, outside its references."""
        spans = [(r.start, r.end) for r in fu.refs] + ([fu.refine] if fu.refine else [])
        return [
            m
            for m in self.agent.link(question, top_k=3)
            if m.score >= CONFIDENT_LINK
            and m.start >= 0
            and not any(s < m.end and m.start < e for s, e in spans)
        ]

    def _means_answers(self, question: str, ref: Ref, last: Turn, fu: FollowUp) -> bool:
        """Whether a reference means the last answers (else the last topic), by agreement:

        * "he", "she": the answers if they are people, else the topic;
        * "they", "their": also several answers of any kind ("when were they released?"
          after a list of films), but not with "else" ("what else did they write?" after
          a writer's films means the writer) nor where "they" does what is asked
          (:func:`~kgagent.dialogue.followup.they_act`);
        * "them", "those films": the answers;
        * "that director": the answers if they are people;
        * "it", "that one": a single answer that is a thing (not a value, not a person)
          and not a category the topic merely belongs to: after "which genre is Coraline?"
          "when did it come out?" is about Coraline, not about Fantasy, which the graph
          shows by Fantasy's edges far outnumbering Coraline's.
        """
        if not last.answers or last.literal:
            return False
        if ref.kind == "plural":
            return True
        if ref.kind == "personal":
            if last.who or self.state.topic is None:
                return True
            return (
                ref.word in THEY
                and len(last.answers) >= 2
                and not fu.other
                and not they_act(question, last.question, self._similar)
            )
        if ref.kind == "demonstrative" and _person_noun(ref.noun):
            return last.who
        if ref.noun and len(last.answers) == 1 and same_kind(ref.noun, last.question,
                                                             self._similar):  # fmt: skip
            return True  # "that movie" after "which movies ...?", even titled "11.6"
        single = len(last.answers) == 1 and not value_like(last.answers[0][1])
        return single and not last.who and not last.category

    def _similar(self, word: str, others: Sequence[str]) -> float:
        """The best cosine of ``word`` against ``others`` by the agent's encoder (0.0
        without one)."""
        encoder = getattr(self.agent, "encoder", None)
        if encoder is None:
            return 0.0
        v = np.asarray(encoder.encode([word, *others]), dtype=np.float32)  # (1 + n, d)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        return float((v[1:] @ v[0]).max())

    def _category(self, answer: Answer) -> bool:
        """The answer is one entity reached by a relation that gathers many entities into
        few (``HUB_RATIO`` or more per entity it reaches: films into genres, languages,
        years): a category the topic belongs to, not a thing to go on about."""
        spread = getattr(self.agent, "relation_spread", None)
        if spread is None or len(answer.entities) != 1:
            return False
        iri = answer.entities[0].iri
        for f in answer.facts:  # the cited fact that reaches the answer
            if iri in (f.object, f.subject) and not f.object_is_literal:
                return spread(f.predicate, f.object != iri) >= HUB_RATIO
        return False

    def _topic_for(self, ref: Ref) -> tuple[str, str] | None:
        """The newest topic a reference agrees with: "it" is never a person (a topic
        taken from a "who" question's answers), "he" / "they" never a thing."""
        for t in reversed(self.state.turns):
            if t.topic is None:
                continue
            if ref.kind == "thing" and t.topic_person:
                continue
            return t.topic
        return self.state.topic

    # -- the readings -------------------------------------------------------------------------

    def _alone(self, question: str, kind: str, links: Sequence = ()) -> tuple[Answer, Turn]:
        """The question as it stands; its topic from ``links`` (the switch's, else linked
        now), the one the answer's facts are about."""
        answer = self.agent.ask(question)
        links = links or [m for m in self.agent.link(question, top_k=3) if m.start >= 0]
        topic = _topic(links, answer)
        context = None if kind == "first" else {"turn": self.state.count - 1, "kind": kind,
                                                 "asked": [question], "entities": []}  # fmt: skip
        return self._done(question, question, kind, answer, context, topic)

    def _about(self, question, fu, ref: Ref, entities, kind) -> tuple[Answer, Turn]:
        """The question asked about each entity the reference stands for, answers joined."""
        entities = entities[:MAX_FANOUT]
        asked = [strip_opening(_put(question, ref, label)) for _, label in entities]
        answers = self.agent.ask_batch(asked)
        leave_out = self._left_out(fu)
        answer = _joined(question, answers, leave_out)
        used = [{"iri": i, "label": label} for i, label in entities]
        context = {"turn": self.state.count - 1, "kind": kind, "asked": asked,
                   "entities": used}  # fmt: skip
        topic = entities[0] if len(entities) == 1 else None
        last = self.state.last
        person = kind == "reference" and last is not None and last.who
        return self._done(question, asked[0], kind, answer, context, topic, person)

    def _ellipsis(self, question: str, fu: FollowUp, topic) -> tuple[Answer, Turn]:
        """ "and the release year?" -> "and the release year of Jaws?"."""
        asked = f"{strip_opening(question).rstrip(' ?.!,')} of {topic[1]}?"
        answer = self.agent.ask(asked)
        answer = _without(answer, self._left_out(fu))
        context = {"turn": self.state.count - 1, "kind": "ellipsis", "asked": [asked],
                   "entities": [{"iri": topic[0], "label": topic[1]}]}  # fmt: skip
        return self._done(question, asked, "ellipsis", answer, context, topic)

    def _refine(self, question: str, fu: FollowUp, last: Turn) -> tuple[Answer, Turn]:
        """The last question narrowed by this one; answers kept among the last ones."""
        start, end = fu.refine
        rest = strip_opening(f"{question[:start]} {question[end:]}".strip(" ,.?!"))
        rest = re.sub(r"[\s,]*\bplease$", "", rest.strip(" ,.?!"), flags=re.IGNORECASE)
        asked = f"{last.asked.rstrip(' ?.!')} that {rest}?"
        answer = self.agent.ask(asked)
        keep = {iri for iri, _ in last.answers}
        narrowed = _within(answer, keep)
        used = [{"iri": i, "label": label} for i, label in last.answers]
        context = {"turn": self.state.count - 1, "kind": "refinement", "asked": [asked],
                   "entities": used}  # fmt: skip
        return self._done(question, asked, "refinement", narrowed, context, None)

    def _left_out(self, fu: FollowUp) -> set[str]:
        """With "else" / "other": the entity the last turn was about is not an answer."""
        if not fu.other or self.state.last is None:
            return set()
        topic = self.state.last.topic
        return {topic[0]} if topic else set()

    def _done(self, question, asked, kind, answer: Answer, context, topic, person=False):
        if context is not None:
            said = _said(kind, context)
            answer = dataclasses.replace(
                answer, question=question, context=context,
                text=f"{said} {answer.text}" if said else answer.text,
            )  # fmt: skip
        literal = answer.kind in ("number", "boolean") or all(e.is_literal for e in answer.entities)
        turn = Turn(
            question=question,
            asked=asked,
            kind=kind,
            topic=topic,
            answers=tuple((e.iri, e.label) for e in answer.entities[:MAX_ANSWERS]),
            literal=bool(answer.entities) and literal,
            who=asks_people(question),
            topic_person=person,
            category=not literal and self._category(answer),
        )
        return answer, turn


def _topic(links: Sequence, answer: Answer) -> tuple[str, str] | None:
    """The entity a question stands on: of its confident links, the first the answer's
    cited facts name ("Moving on, when did Waiting for Forever come out?" links "Moving"
    too, but cites Waiting for Forever), else the first."""
    cited = {x for f in answer.facts for x in (f.subject, f.object)}
    for m in links:
        if m.iri in cited:
            return (m.iri, m.label)
    return (links[0].iri, links[0].label) if links else None


def _put(question: str, ref: Ref, label: str) -> str:
    """The question with ``label`` where the reference was ("their" -> "X's")."""
    said = f"{label}'s" if ref.possessive else label
    return f"{question[: ref.start]}{said}{question[ref.end :]}"


def _said(kind: str, context: dict) -> str:
    names = [e["label"] for e in context.get("entities", [])]
    if not names or kind in ("switch", "new"):
        return ""
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    how = {"reference": "About", "ellipsis": "About", "refinement": "Among"}[kind]
    return f"({how} {shown}, from turn {context['turn'] + 1}.)"


def _joined(question: str, answers: Sequence[Answer], leave_out: set[str]) -> Answer:
    """One answer from the answers about each entity: entities in order, facts renumbered."""
    if len(answers) == 1:
        return _without(answers[0], leave_out)
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


def _without(answer: Answer, leave_out: set[str]) -> Answer:
    """The answer less the entities in ``leave_out`` ("what else"), text and facts too."""
    if not leave_out or not any(e.iri in leave_out for e in answer.entities):
        return answer
    return _restricted(answer, tuple(e for e in answer.entities if e.iri not in leave_out))


def _within(answer: Answer, keep: set[str]) -> Answer:
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


def _person_noun(noun: str) -> bool:
    from kgagent.synth.english import is_person_noun

    return is_person_noun(noun)
