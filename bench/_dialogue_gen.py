"""The dev set of bench/dialogue.py: conversations, each turn answered from the graph.

A conversation is a first turn (one relation from a named entity: "Who directed Wall
Street?") and one or two follow-ups, each of one kind:

- ``reference``: about the previous answer, by a pronoun or a demonstrative ("What else
  did they direct?", "Who starred in those films?"). A singular phrasing is used only
  where the previous answer is one entity, a plural one where it is several (the answer
  is then the union over them); the two alternate. "else" leaves out the film the person
  was found in.
- ``ellipsis``: the previous question's topic left unsaid, another relation asked of it
  ("And who wrote it?", "and the release year?", "And as a writer?"); its answer is not
  the previous one (repeating that would score).
- ``refinement``: the previous answers (films) narrowed by a constraint ("Which of those
  did X star in?"); the answer is non-empty and strictly smaller than the previous one.
- ``switch``: a question that names a new entity (none named or answered before in the
  conversation), with another answer than the previous turn's; nothing carries over.

Each kind has ``n`` conversations, drawn with its own ``random.Random(f"{seed}:{kind}")``
(so one kind's conversations do not change when another's generator does); the first
follow-up is of the conversation's kind, and every second conversation has a second
follow-up, of the kind that has had fewest second turns so far (never an ellipsis after a
refinement, which leaves no single topic). Within a kind, the form with fewest turns so
far is drawn first (the relation asked, singular or plural), so no form crowds out the
rest.

Answers are computed with sets over the triples (``bench/_complex_kb.py``), never by
kgagent, and each turn records what it asks in the graph's terms (``spec``: a relation
walked from ``subjects``, forwards or backwards, less ``exclude``, kept to ``within``)
and the entities it took from the conversation (``uses``). Topics follow complex_qa's
rules (no ambiguous name, no merged MetaQA film); an answer holds 1 to ``MAX_ANSWERS``
nodes, every one of which has a name.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace

from _complex_gen import _Ctx  # complex_qa's topic rules, shared so the two sets agree
from _complex_kb import Graph
from _complex_words import fill, role_fields
from _dialogue_words import SWITCH_OPENERS, TURNS, Talk

__all__ = ["KINDS", "MAX_ANSWERS", "generate"]

KINDS = ("reference", "ellipsis", "refinement", "switch")
#: the most nodes an answer may hold (a longer list is not a question a user asks)
MAX_ANSWERS = 20
#: first turns drawn for one conversation before it is given up
TRIES = 400


@dataclass(frozen=True)
class Step:
    """One relation walked from a node.

    Attributes:
        key: its wording's name ("films", "people", "value:release", "facet:genre").
        relation: the relation walked; ``inverse`` walks it from object to subject.
        source: what it starts from ("film" or "person").
        out: what it reaches: "film", "person", "value" (a literal's lexical form or a
            MetaQA value node, one per subject) or "category" (a named node).
    """

    key: str
    relation: str
    inverse: bool
    source: str
    out: str


@dataclass(frozen=True)
class Hop:
    """What a turn asks in the graph's terms: the union over ``subjects`` of the nodes
    ``relation`` reaches (``inverse``: the nodes that reach them), less ``exclude``; with
    ``within``, the members of ``within`` that reach a subject (a refinement)."""

    relation: str
    inverse: bool
    subjects: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    within: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        out: dict = {"relation": self.relation, "inverse": self.inverse,
                     "subjects": list(self.subjects)}  # fmt: skip
        if self.exclude:
            out["exclude"] = list(self.exclude)
        if self.within is not None:
            out["within"] = list(self.within)
        return out


@dataclass(frozen=True)
class State:
    """What a conversation has established after a turn: the one entity it was about
    (``topic``, None after a plural reference or a refinement), the relation asked, its
    answers (sorted node ids) and what they are, the film an "else" left out, and every
    node named or answered so far."""

    topic: str | None
    source: str
    step: Step
    answers: tuple[str, ...]
    out: str
    exclude: tuple[str, ...] = ()
    seen: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Turn:
    """A turn drawn, with its answer; ``question`` is empty until it is said."""

    kind: str
    form: str
    keys: tuple[str, ...]
    fields: dict
    hop: Hop
    answers: tuple[str, ...]
    topics: tuple[str, ...]
    uses: tuple[str, ...]
    state: State
    opener: str = ""
    question: str = field(default="")


class _View(_Ctx):
    """complex_qa's view of the graph (topics, merged films, a role's films per
    person), with the steps a conversation walks and the subjects a question may name."""

    def __init__(self, g: Graph, talk: Talk):
        super().__init__(g, talk.schema)
        self.talk = talk
        measures = {m.name: m for m in talk.schema.measures}
        roles = [r.relation for r in talk.schema.roles]
        self.steps = [Step("films", r, True, "person", "film") for r in roles]
        self.steps += [Step("people", r, False, "film", "person") for r in roles]
        for name in talk.measures:
            m = measures[name]
            source = "person" if m.of_people else "film"
            self.steps.append(Step(f"value:{name}", m.relation, False, source, "value"))
        self.steps += [Step(f"facet:{x.name}", x.relation, False, "film", "category")
                       for x in talk.facets]  # fmt: skip
        self.year = measures[talk.schema.year]
        self._pools: dict[Step, list[str]] = {}

    def from_(self, source: str) -> list[Step]:
        return [s for s in self.steps if s.source == source]

    def pool(self, step: Step) -> list[str]:
        """The subjects a question along ``step`` may name, sorted."""
        if step not in self._pools:
            if step.source == "film":
                pool = sorted(f for f in self.g.items if self.topic(f))
            elif step.out == "film":
                pool = self.people(step.relation)
            else:
                subjects = self.g.edges.get(step.relation, {})
                pool = sorted(s for s in subjects if self.topic(s) and s not in self.g.items)
            self._pools[step] = pool
        return self._pools[step]

    def walk(self, step: Step, node: str) -> set[str]:
        if step.inverse:
            return self.films(step.relation, node)
        return self.g.objects(step.relation, node)

    def gold(self, hop: Hop) -> set[str]:
        """The answer to ``hop`` (see :class:`Hop`)."""
        subjects = set(hop.subjects)
        if hop.within is not None:
            out = {x for x in hop.within if self.g.objects(hop.relation, x) & subjects}
        elif hop.inverse:
            out = set().union(*(self.films(hop.relation, s) for s in subjects))
        else:
            out = set().union(*(self.g.objects(hop.relation, s) for s in subjects))
        return out - set(hop.exclude)

    def sound(self, step: Step, subjects: tuple[str, ...], nodes: set[str]) -> bool:
        """Whether ``nodes`` (the walk from ``subjects``) is an answer a question can
        have: every subject reaches something (a value: exactly one), 1 to MAX_ANSWERS
        nodes, each with a name (films: not merged)."""
        if not 0 < len(nodes) <= MAX_ANSWERS:
            return False
        reached = [self.walk(step, s) for s in subjects]
        if not all(reached) or (step.out == "value" and any(len(r) != 1 for r in reached)):
            return False
        if step.out == "film":
            return all(n in self.g.labels and n not in self.merged for n in nodes)
        return step.out == "value" or all(n in self.g.labels for n in nodes)

    def can_walk(self, step: Step, node: str) -> bool:
        """Whether a follow-up may walk ``step`` from ``node`` taken from the state: a
        person's films in a role must all be answers (complex_qa's ``clean``)."""
        if step.source == "person":
            return self.clean(step.relation, node) if step.out == "film" else self.topic(node)
        return True

    def fields(self, step: Step, answers: int, **extra: str) -> dict:
        """A step's words (a role's verbs and nouns) and ``extra``."""
        out = dict(extra)
        if step.key in ("films", "people"):
            crew = self.talk.crew(step.relation)
            out |= role_fields(self.roles[step.relation])
            out |= {"crew": crew.noun, "crews": crew.nouns, "a_crew": crew.a_noun,
                    "crew_n": crew.noun if answers == 1 else crew.nouns}  # fmt: skip
        return out


# -- the turns a state allows -------------------------------------------------------------


def first_turn(v: _View, step: Step, node: str, *, kind: str = "first", seen=frozenset()):
    """A question along ``step`` naming ``node``; None where its answer is not sound."""
    hop = Hop(step.relation, step.inverse, (node,))
    nodes = v.gold(hop)
    if not v.sound(step, hop.subjects, nodes):
        return None
    slot = "f" if step.source == "film" else "p"
    answers = tuple(sorted(nodes))
    state = State(node, step.source, step, answers, step.out, seen=seen | {node} | nodes)
    return Turn(kind, f"{kind}/{step.key}", (f"first:{step.key}",),
                v.fields(step, len(nodes), **{slot: v.g.label(node)}), hop, answers,
                (node,), (), state)  # fmt: skip


def references(v: _View, s: State) -> list[Turn]:
    """Questions about the previous answer (its people or films), one per step the
    state allows; "else" where one person was found in a role of the film asked about."""
    if s.out not in ("film", "person"):
        return []
    plural, out = len(s.answers) > 1, []
    for step in v.from_(s.out):
        if not all(v.can_walk(step, a) for a in s.answers):
            continue
        exclude: tuple[str, ...] = ()
        if step.relation == s.step.relation:  # asked back: only "what else"
            if plural or s.out != "person" or s.source != "film":
                continue
            exclude, key = (s.topic,), "ref:else"
        else:
            key = f"ref:{step.key}" + "+" * plural
        hop = Hop(step.relation, step.inverse, s.answers, exclude)
        nodes = v.gold(hop)
        if not v.sound(step, hop.subjects, nodes | set(exclude)) or not nodes:
            continue
        extra = {}
        if s.out == "person":
            crew = v.talk.crew(s.step.relation)
            extra = {"crew0": crew.noun, "crews0": crew.nouns}
        answers = tuple(sorted(nodes))
        topic = None if plural else s.answers[0]
        state = State(topic, "" if plural else s.out, step, answers, step.out, exclude,
                      s.seen | nodes)  # fmt: skip
        out.append(Turn("reference", f"reference/{key[4:]}", (key,),
                        v.fields(step, len(nodes), **extra), hop, answers, (), s.answers,
                        state))  # fmt: skip
    return out


def ellipses(v: _View, s: State) -> list[Turn]:
    """Another relation of the previous question's topic, the topic left unsaid. After a
    "what else", only where both readings (with and without the film left out) agree."""
    if s.topic is None or not v.topic(s.topic):
        return []
    out = []
    for step in v.from_(s.source):
        if step == s.step or not v.can_walk(step, s.topic):
            continue
        hop = Hop(step.relation, step.inverse, (s.topic,))
        nodes = v.gold(hop)
        if not v.sound(step, hop.subjects, nodes) or nodes & set(s.exclude):
            continue
        if nodes == set(s.answers):  # repeating the last answer would score
            continue
        keys = (f"ell:{step.key}",)
        if step.key == "films" and s.step.key == "films":  # "And as a writer?"
            keys += ("ell:films:as",)
        answers = tuple(sorted(nodes))
        state = State(s.topic, s.source, step, answers, step.out, seen=s.seen | nodes)
        out.append(Turn("ellipsis", f"ellipsis/{step.key}", keys, v.fields(step, len(nodes)),
                        hop, answers, (), (s.topic,), state))  # fmt: skip
    return out


def refinements(v: _View, s: State) -> list[Turn]:
    """The previous films narrowed by a person in a role, a category or a year: every
    constraint that keeps some of them and drops some."""
    if s.out != "film" or len(s.answers) < 2:
        return []
    films = s.answers
    options: list[tuple[str, str, str, str]] = []  # (form, relation, value, slot)
    for role in v.schema.roles:
        people = set().union(*(v.g.objects(role.relation, f) for f in films))
        options += [("crew", role.relation, p, "p") for p in sorted(people) if v.topic(p)]
    for x in v.talk.facets:
        values = set().union(*(v.g.objects(x.relation, f) for f in films))
        options += [(f"facet:{x.name}", x.relation, c, "v") for c in sorted(values)
                    if c in v.g.labels and c not in v.g.ambiguous]  # fmt: skip
    if all(v.g.value(v.year.relation, f) is not None for f in films):
        years = set().union(*(v.g.objects(v.year.relation, f) for f in films))
        options += [(f"value:{v.year.name}", v.year.relation, y, "v") for y in sorted(years)
                    if y not in v.g.ambiguous]  # fmt: skip
    out = []
    for form, relation, value, slot in options:
        hop = Hop(relation, True, (value,), within=films)
        nodes = v.gold(hop)
        if not 0 < len(nodes) < len(films):
            continue
        fields = {slot: v.g.label(value)}
        if form == "crew":
            fields |= role_fields(v.roles[relation])
        answers = tuple(sorted(nodes))
        state = State(None, "", s.step, answers, "film", seen=s.seen | {value})
        out.append(Turn("refinement", f"refinement/{form}", (f"refine:{form}",), fields, hop,
                        answers, (value,), films, state))  # fmt: skip
    return out


# -- drawing conversations ------------------------------------------------------------------


class _Talker:
    """Draws the conversations of one kind, with one seeded ``random.Random``."""

    def __init__(self, v: _View, kind: str, rng: random.Random):
        self.v, self.kind, self.rng = v, kind, rng
        self.forms: Counter[str] = Counter()  # turns drawn per form
        self.seconds: Counter[str] = Counter()  # second follow-ups per kind
        self.asked: set[Hop] = set()  # first questions used (whatever their wording)
        starts = {
            "reference": lambda s: s.out in ("film", "person"),
            "refinement": lambda s: s.key == "films",
        }.get(kind, lambda s: True)
        self.anywhere = [s for s in v.steps if v.pool(s)]  # where a switch may go
        self.starts = [s for s in self.anywhere if starts(s)]

    def conversation(self, follow_ups: int, plural: bool | None = None) -> dict | None:
        """A first turn and ``follow_ups`` turns (1 or 2), or None where TRIES first
        turns allow none. ``plural`` (references): whether the first follow-up refers to
        several answers or to one. A second follow-up is of the kind with fewest second
        turns so far. The first half of the tries insist on both; the rest take what the
        state allows."""
        wanted = self.second_kinds() if follow_ups > 1 else []
        for attempt in range(TRIES):
            strict = attempt < TRIES // 2
            first = self.first()
            if first is None or first.hop in self.asked:
                continue
            options = self.options(self.kind, first.state)
            if strict and plural is not None:
                options = [t for t in options if t.form.endswith("+") == plural]
            turns = [self.said(first), self.pick(options)]
            if turns[-1] is None:
                continue
            if wanted:
                second = self.second(turns[-1].state, wanted[:1] if strict else wanted)
                if second is None and strict:
                    continue
                turns += [second] if second is not None else []
            self.asked.add(first.hop)
            self.forms.update(t.form for t in turns[1:])
            return self.record(turns)
        return None

    def second_kinds(self) -> list[str]:
        """The kinds a second follow-up may take, fewest so far first (ties by the rng);
        never an ellipsis after a refinement (it leaves no single topic)."""
        kinds = [k for k in KINDS if (self.kind, k) != ("refinement", "ellipsis")]
        self.rng.shuffle(kinds)
        return sorted(kinds, key=self.seconds.__getitem__)

    def first(self, seen: frozenset[str] = frozenset(), kind: str = "first") -> Turn | None:
        steps = self.starts if kind == "first" else self.anywhere
        if not steps:
            return None
        step = self.rng.choice(steps)
        node = self.rng.choice(self.v.pool(step))
        if node in seen:
            return None
        return first_turn(self.v, step, node, kind=kind, seen=seen)

    def options(self, kind: str, s: State) -> list[Turn]:
        if kind == "reference":
            return references(self.v, s)
        if kind == "ellipsis":
            return ellipses(self.v, s)
        if kind == "refinement":
            return refinements(self.v, s)
        switches = [self.first(s.seen, "switch") for _ in range(8)]
        opener = self.rng.choice(SWITCH_OPENERS)
        return [replace(t, opener=opener) for t in switches
                if t is not None and t.answers != s.answers]  # fmt: skip

    def pick(self, options: list[Turn]) -> Turn | None:
        """One of the options, of the form drawn least so far (ties by the seeded rng),
        said."""
        if not options:
            return None
        forms = sorted({t.form for t in options})
        self.rng.shuffle(forms)
        form = min(forms, key=self.forms.__getitem__)
        return self.said(self.rng.choice([t for t in options if t.form == form]))

    def second(self, s: State, kinds: list[str]) -> Turn | None:
        """A follow-up of the first of ``kinds`` the state allows."""
        for kind in kinds:
            if (turn := self.pick(self.options(kind, s))) is not None:
                self.seconds[kind] += 1
                return turn
        return None

    def said(self, t: Turn) -> Turn:
        templates = [x for k in t.keys for x in TURNS[k]]
        template = self.rng.choice(templates)
        text = fill(template, self.rng.choice(self.v.schema.nouns), **t.fields)
        if t.opener:
            text = t.opener + (text if template.startswith("{") else text[0].lower() + text[1:])
        return replace(t, question=text)

    def record(self, turns: list[Turn]) -> dict:
        """One dev-set line: ``turns`` (the questions, as ``kgagent ask --conversations``
        reads them) and ``gold``, a record per turn."""
        label = self.v.g.label
        gold = [
            {
                "question": t.question,
                "kind": t.kind,
                "form": t.form,
                "answers": sorted({label(n) for n in t.answers}),
                "topics": [label(n) for n in t.topics],
                "uses": [label(n) for n in t.uses],
                "spec": {**t.hop.to_dict(), "nodes": list(t.answers)},
            }
            for t in turns
        ]
        return {"kind": self.kind, "turns": [t.question for t in turns], "gold": gold}


def generate(g: Graph, talk: Talk, *, n: int, seed: int = 0, kinds=KINDS) -> list[dict]:
    """Up to ``n`` conversations of each follow-up kind (fewer where the graph allows
    fewer); every second one has two follow-ups, and a reference conversation's first
    follow-up refers to one answer or to several in turn (pairs of conversations)."""
    v = _View(g, talk)
    out: list[dict] = []
    for kind in kinds:
        talker = _Talker(v, kind, random.Random(f"{seed}:{kind}"))
        for i in range(n):
            plural = (i // 2) % 2 == 1 if kind == "reference" else None
            conv = talker.conversation(1 + i % 2, plural)
            if conv is not None:
                out.append(conv)
    return out
