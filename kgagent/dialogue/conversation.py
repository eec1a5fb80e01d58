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
- a refinement ("which of them came out in 2006?", "only the comedies?") is read as the
  last question narrowed ("<last question> that came out in 2006"): the typed programs
  add that constraint to the last answer's program (kept in the state) with no
  retrieval where the agent can (``refine``), else the narrowed question is asked; its
  answers are kept only where they are among the last answers;
- a question naming a new entity, without a reference, stands alone ("switch").

Every answer says what it took from the state: ``Answer.context`` (the turn, the reading,
the entities used) and a first sentence in ``Answer.text``.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kgagent.dialogue.answers import joined, said, within
from kgagent.dialogue.followup import (
    THEY,
    FollowUp,
    Ref,
    asks_people,
    joined_constraint,
    read_followup,
    same_kind,
    strip_opening,
    they_act,
    value_like,
)
from kgagent.dialogue.state import MAX_ANSWERS, DialogueState, Turn
from kgagent.types import Answer

__all__ = ["Conversation", "Reading"]

CONFIDENT_LINK = 0.8  # a named entity this sure switches the topic
HUB_RATIO = 10.0  # entities a relation leaves from per entity it reaches: a category
MAX_FANOUT = 8  # last answers a reference to several asks about
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
            reading = self._resolve(question)
            answer, turn = self._answer(reading, self._asked(reading))
            self.state.add(turn)
            return answer

    def resolve(self, question: str) -> Reading:
        """How ``question`` reads against the turns so far: the stand-alone questions it
        stands for and what they take from the state, without asking them (for a user's
        "why", and for fine-tuning a reader on the questions a conversation asks)."""
        with self._lock:
            return self._resolve(question)

    def reset(self) -> None:
        with self._lock:
            self.state = DialogueState()

    def to_dict(self) -> dict[str, Any]:
        return self.state.to_dict()

    # -- reading a turn ---------------------------------------------------------------------

    def _resolve(self, question: str) -> Reading:
        last = self.state.last
        if last is None:
            return Reading(question, "first", (question,))
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
                return Reading(question, "switch", (_alone(question),), links=tuple(announced))
            if self._means_answers(question, ref, last, fu):
                return self._about(question, fu, ref, list(last.answers), "reference")
            topic = self._topic_for(ref)
            if topic is not None:
                return self._about(question, fu, ref, [topic], "ellipsis")
        named = self._named(question, fu)
        if named:  # its best link is the new topic (no second linking)
            return Reading(question, "switch", (_alone(question),), links=tuple(named))
        if self.state.topic is not None and (fu.lead or fu.other):
            return self._ellipsis(question, fu, self.state.topic)
        return Reading(question, "new", (_alone(question),))

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
          "when did it come out?" is about Coraline, not about Fantasy: the graph's genre
          relation gathers hundreds of films into each genre (``relation_spread``).
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

    def _about(self, question, fu, ref: Ref, entities, kind) -> Reading:
        """The question asked about each entity the reference stands for (answers joined)."""
        entities = tuple(entities[:MAX_FANOUT])
        asked = tuple(strip_opening(_put(question, ref, label)) for _, label in entities)
        last = self.state.last
        return Reading(
            question, kind, asked, entities=entities,
            topic=entities[0] if len(entities) == 1 else None,
            person=kind == "reference" and last is not None and last.who,
            leave_out=self._left_out(fu),
        )  # fmt: skip

    def _ellipsis(self, question: str, fu: FollowUp, topic) -> Reading:
        """ "and the release year?" -> "the release year of Jaws?"."""
        asked = f"{strip_opening(question).rstrip(' ?.!,')} of {topic[1]}?"
        return Reading(question, "ellipsis", (asked,), entities=(topic,), topic=topic,
                       leave_out=self._left_out(fu))  # fmt: skip

    def _refine(self, question: str, fu: FollowUp, last: Turn) -> Reading:
        """The last question narrowed by this one; answers kept among the last ones."""
        start, end = fu.refine
        rest = strip_opening(f"{question[:start]} {question[end:]}".strip(" ,.?!"))
        rest = re.sub(r"[\s,]*\bplease$", "", rest.strip(" ,.?!"), flags=re.IGNORECASE)
        rest = re.sub(r"^(?:which|that|who)\s+", "", rest, flags=re.IGNORECASE)  # "that" joins
        asked = joined_constraint(last.asked, rest)
        return Reading(question, "refinement", (asked,), entities=last.answers,
                       keep=frozenset(iri for iri, _ in last.answers),
                       base=last.program)  # fmt: skip

    def _left_out(self, fu: FollowUp) -> frozenset[str]:
        """With "else" / "other": the entity the last turn was about is not an answer."""
        if not fu.other or self.state.last is None:
            return frozenset()
        topic = self.state.last.topic
        return frozenset({topic[0]}) if topic else frozenset()

    # -- answering ------------------------------------------------------------------------------

    def _asked(self, r: Reading) -> list[Answer]:
        """The answers to a reading's questions: a refinement narrows the last answer's
        program with no retrieval where the agent can (``refine``), else all are asked."""
        refine = getattr(self.agent, "refine", None)
        if r.kind == "refinement" and r.base is not None and refine is not None:
            narrowed = refine(r.asked[0], r.base)
            if narrowed is not None:
                return [narrowed]
        return self.agent.ask_batch(list(r.asked))

    def _answer(self, r: Reading, answers: Sequence[Answer]) -> tuple[Answer, Turn]:
        """The answer to a reading from the answers to its questions, and the turn kept."""
        topic = r.topic
        if r.kind in ("first", "new", "switch"):
            answer = answers[0]
            links = r.links or [m for m in self.agent.link(r.question, top_k=3) if m.start >= 0]
            topic = _topic(links, answer)
        elif r.kind == "refinement":
            answer = within(answers[0], set(r.keep or ()))
        else:
            answer = joined(r.question, answers, set(r.leave_out))
        if r.kind != "first":
            used = [{"iri": i, "label": label} for i, label in r.entities]
            context = {"turn": self.state.count - 1, "kind": r.kind, "asked": list(r.asked),
                       "entities": used}  # fmt: skip
            prefix = said(r.kind, context)
            answer = dataclasses.replace(
                answer, question=r.question, context=context,
                text=f"{prefix} {answer.text}" if prefix else answer.text,
            )  # fmt: skip
        literal = answer.kind in ("number", "boolean") or all(e.is_literal for e in answer.entities)
        turn = Turn(
            question=r.question,
            asked=r.asked[0],
            kind=r.kind,
            topic=topic,
            answers=tuple((e.iri, e.label) for e in answer.entities[:MAX_ANSWERS]),
            literal=bool(answer.entities) and literal,
            who=asks_people(r.question),
            topic_person=r.person,
            category=not literal and self._category(answer),
            program=answer.program,
        )
        return answer, turn


@dataclass(frozen=True)
class Reading:
    """How a question reads against a conversation (:meth:`Conversation.resolve`).

    Attributes:
        question: as the user asked it.
        kind: "first", "new", "switch", "reference", "ellipsis" or "refinement".
        asked: the stand-alone questions it stands for (several: a reference to several
            answers, asked about each and joined).
        entities: (IRI, label) it took from the state.
        topic: the entity it is about, where known before answering.
        person: that topic is a person (taken from a "who" question's answers).
        links: for a switch, the named entities (the topic is the one the answer cites).
        leave_out: IRIs not to answer ("what else": the last topic).
        keep: for a refinement, the IRIs its answers must be among (the last answers).
        base: for a refinement, the last answer's program, whose chain it narrows.
    """

    question: str
    kind: str
    asked: tuple[str, ...]
    entities: tuple[tuple[str, str], ...] = ()
    topic: tuple[str, str] | None = None
    person: bool = False
    links: tuple = field(default=(), repr=False)
    leave_out: frozenset[str] = frozenset()
    keep: frozenset[str] | None = None
    base: dict[str, Any] | None = field(default=None, repr=False)


def _topic(links: Sequence, answer: Answer) -> tuple[str, str] | None:
    """The entity a question stands on: of its confident links, the first the answer's
    cited facts name ("Moving on, when did Waiting for Forever come out?" links "Moving"
    too, but cites Waiting for Forever), else the first."""
    cited = {x for f in answer.facts for x in (f.subject, f.object)}
    for m in links:
        if m.iri in cited:
            return (m.iri, m.label)
    return (links[0].iri, links[0].label) if links else None


def _alone(question: str) -> str:
    """A question standing alone, without the words that opened it as the next turn
    ("On another note, who wrote Heat?"); as asked where nothing would be left."""
    return strip_opening(question) or question


def _put(question: str, ref: Ref, label: str) -> str:
    """The question with ``label`` where the reference was ("their" -> "X's")."""
    said = f"{label}'s" if ref.possessive else label
    return f"{question[: ref.start]}{said}{question[ref.end :]}"


def _person_noun(noun: str) -> bool:
    from kgagent.synth.english import is_person_noun

    return is_person_noun(noun)
