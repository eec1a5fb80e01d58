"""Dialogue state: the turns of a conversation and its focus, as plain JSON-able data.

A follow-up ("what else did they direct?", "and of them, which are comedies?") is
resolved against what the conversation last talked about: its topic entity, its answer
set and its program. That is all the state holds; a server keeps one per conversation,
so it is bounded (``MAX_TURNS`` turns, ``MAX_ANSWERS`` answers a turn) and round-trips
through JSON, with every field checked on the way in (a stored state is input too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from kgagent.errors import KGAgentError

__all__ = ["MAX_ANSWERS", "MAX_TURNS", "DialogueState", "StateError", "Turn"]

MAX_TURNS = 20  # turns kept (the oldest go first)
MAX_ANSWERS = 50  # answers a turn keeps for later turns to refer to
MAX_PROGRAM_CHARS = 4000  # a kept program, as JSON
KINDS = ("first", "new", "switch", "reference", "ellipsis", "refinement")


class StateError(KGAgentError):
    """A stored dialogue state that cannot be read (names the field)."""


@dataclass(frozen=True)
class Turn:
    """One question and what the conversation keeps of its answer.

    Attributes:
        question: what the user asked.
        asked: what the agent was asked (the question with its references resolved).
        kind: how it was read: "first", "new" (a question standing alone), "switch" (a
            new entity, nothing carried over), "reference" (to the last answer),
            "ellipsis" (the last topic left out), "refinement" (of the last answers).
        topic: (IRI, label) of the entity the question was about, if one.
        answers: (IRI, label) of its answers, best first (at most ``MAX_ANSWERS``).
        literal: the answers are values (a count, yes / no, a year), not entities.
        who: the question asked for people ("who ..."): a later "they" means them.
        topic_person: the topic is a person (taken from a "who" question's answers).
        category: the one answer is a category many things share (a genre, a language),
            so a later "it" means the topic, not the answer.
        program: the program its answer executed (``Answer.program``): a refinement
            narrows its chain without retrieving again.
    """

    question: str
    asked: str
    kind: str
    topic: tuple[str, str] | None = None
    answers: tuple[tuple[str, str], ...] = ()
    literal: bool = False
    who: bool = False
    topic_person: bool = False
    category: bool = False
    program: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["topic"] = list(self.topic) if self.topic else None
        out["answers"] = [list(a) for a in self.answers]
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Turn:
        if not isinstance(data, dict):
            raise StateError(f"{where}: expected an object, got {type(data).__name__}")
        unknown = set(data) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise StateError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        for name in ("question", "asked", "kind"):
            if not isinstance(data.get(name), str):
                raise StateError(f"{where}.{name}: expected text")
        if data["kind"] not in KINDS:
            raise StateError(f"{where}.kind: {data['kind']!r} is not one of {', '.join(KINDS)}")
        topic = data.get("topic")
        if topic is not None:
            topic = _pair(topic, f"{where}.topic")
        answers = data.get("answers", [])
        if not isinstance(answers, list) or len(answers) > MAX_ANSWERS:
            raise StateError(f"{where}.answers: expected a list of at most {MAX_ANSWERS}")
        for name in ("literal", "who", "topic_person", "category"):
            if not isinstance(data.get(name, False), bool):
                raise StateError(f"{where}.{name}: expected true or false")
        program = data.get("program")
        if program is not None:
            _check_program(program, f"{where}.program")
        return cls(
            question=data["question"],
            asked=data["asked"],
            kind=data["kind"],
            topic=topic,
            answers=tuple(_pair(a, f"{where}.answers[{i}]") for i, a in enumerate(answers)),
            literal=data.get("literal", False),
            who=data.get("who", False),
            topic_person=data.get("topic_person", False),
            category=data.get("category", False),
            program=program,
        )


def _check_program(value: Any, where: str) -> None:
    """A stored program must read back as one (ProgramError names its field) and stay
    small (``MAX_PROGRAM_CHARS`` as JSON)."""
    import json

    from kgagent.programs.types import Program, ProgramError

    try:
        Program.from_dict(value)
        size = len(json.dumps(value))
    except (ProgramError, TypeError, ValueError) as e:
        raise StateError(f"{where}: {e}") from None
    if size > MAX_PROGRAM_CHARS:
        raise StateError(f"{where}: {size} characters, at most {MAX_PROGRAM_CHARS}")


def _pair(value: Any, where: str) -> tuple[str, str]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, str) for v in value)
    ):
        raise StateError(f"{where}: expected [IRI, label]")
    return value[0], value[1]


@dataclass
class DialogueState:
    """The turns so far, newest last (bounded), and the focus they give.

    Attributes:
        turns: the newest ``MAX_TURNS`` turns.
        count: turns asked in all, the dropped ones too (the last turn's index is
            ``count - 1``, as ``Answer.context["turn"]`` numbers turns).
    """

    turns: list[Turn] = field(default_factory=list)
    count: int = 0

    def __post_init__(self) -> None:
        self.count = max(self.count, len(self.turns))

    def add(self, turn: Turn) -> None:
        self.turns.append(turn)
        self.count += 1
        del self.turns[:-MAX_TURNS]

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    @property
    def topic(self) -> tuple[str, str] | None:
        """The last turn's topic, else the newest earlier one (a refinement has none)."""
        for t in reversed(self.turns):
            if t.topic is not None:
                return t.topic
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "count": self.count, "turns": [t.to_dict() for t in self.turns]}

    @classmethod
    def from_dict(cls, data: Any) -> DialogueState:
        if not isinstance(data, dict) or data.get("version") != 1:
            raise StateError("state: expected an object with version 1")
        turns = data.get("turns")
        if not isinstance(turns, list) or len(turns) > MAX_TURNS:
            raise StateError(f"state.turns: expected a list of at most {MAX_TURNS} turns")
        count = data.get("count", len(turns))
        if not isinstance(count, int) or isinstance(count, bool) or count < len(turns):
            raise StateError("state.count: expected a whole number, at least the turns kept")
        return cls([Turn.from_dict(t, f"state.turns[{i}]") for i, t in enumerate(turns)], count)
