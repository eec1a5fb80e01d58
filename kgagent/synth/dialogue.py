"""Conversations from the graph: a first question and a follow-up of each kind, with the
gold answers of both, for a graph with no dialogue data.

A conversation's follow-up is read against the state (:mod:`kgagent.dialogue`) and
asked as stand-alone questions, so the reader is fine-tuned on what a conversation asks
it: each synthesized follow-up is resolved the way :class:`~kgagent.dialogue.Conversation`
resolves it, against a state holding the first turn's gold answers, and its stand-alone
question joins the training questions with the follow-up's gold answers
(:func:`conversation_pairs`).

The first question is a sampled chain phrased as the chain questions are
(:class:`~kgagent.synth.phrasing.Phraser`); the follow-up, by kind:

- reference: a chain from the first answers, phrased, its subject replaced by "it",
  "they" or "them" (the answers' union its gold);
- ellipsis: another chain from the first topic, phrased without it ("and the release
  year?") or with "it" where that can only mean the topic (after a "who" question);
- refinement: the first answers narrowed by a value or a second entity ("which of them
  are from 1993?"), built and answered as a typed program
  (:mod:`kgagent.synth.typed`);
- switch: a question about another topic.

English function words frame them; the graph's words fill them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kgagent.kg.terms import iri_of

__all__ = ["FOLLOW_UPS", "SynthConversation", "conversation_pairs", "synthesize_conversations"]

FOLLOW_UPS = ("reference", "ellipsis", "refinement", "switch")
MAX_REFERRED = 8  # first answers a reference may stand for (the conversation's fan-out)
SPREAD_CATEGORY = 10.0  # as the conversation's HUB_RATIO: a relation into categories

#: a refinement's frames: typed questions over "them" instead of a noun phrase
REFINE_FRAMES: dict[str, tuple[str, ...]] = {
    "value_constraint:time": (
        "which of them are from {v}",
        "only the ones from {v}",
        "and of those, which are from {v}",
    ),
    "value_constraint": ("which of them have {rel} {v}", "only the ones with {rel} {v}"),
    "two_constraints": ("which of them are also {nps2}", "and of those, which are {nps2}"),
}
SWITCH_OPENERS = ("", "", "now, ", "and ")


@dataclass(frozen=True)
class SynthConversation:
    """Two turns: the first question and a follow-up of ``kind``.

    Attributes:
        kind: the follow-up's kind (:data:`FOLLOW_UPS`).
        questions: the two questions as a user would type them.
        answers: per turn, the gold answer labels.
        topic: (IRI, label) the first question is about.
        first: (IRI, label) of the first answers (what the state holds).
        first_people: the first question asks for people.
        category: the first answer is one category (a genre): "it" then means the topic.
    """

    kind: str
    questions: tuple[str, str]
    answers: tuple[tuple[str, ...], tuple[str, ...]]
    topic: tuple[str, str]
    first: tuple[tuple[str, str], ...] = field(repr=False)
    first_people: bool = False
    category: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The ``kgagent ask --conversations`` line, with the gold answers beside it."""
        return {"kind": self.kind, "turns": list(self.questions),
                "answers": [list(a) for a in self.answers]}  # fmt: skip


def synthesize_conversations(agent: Any, *, n: int = 100, seed: int = 0) -> list[SynthConversation]:
    """Up to ``n`` conversations over an indexed agent's graph, the follow-up kinds in
    turn (fewer of a kind the graph cannot give: no value relations, no refinements)."""
    from kgagent.synth.chains import ChainSampler
    from kgagent.synth.typed import set_samples, typed_maker

    rng = np.random.default_rng(seed)
    maker = typed_maker(agent, rng, REFINE_FRAMES)
    sampler = ChainSampler(maker.g, maker.lex.shapes(1), max_answers=MAX_REFERRED)
    builder = _Builder(agent, maker)
    singles = sampler.sample(1, 6 * n, rng)
    sets = set_samples(maker, 4 * n)
    quota = -(-n // len(FOLLOW_UPS))
    made: dict[str, list[SynthConversation]] = {k: [] for k in FOLLOW_UPS}
    for kind, pool in (("reference", singles), ("ellipsis", singles), ("switch", singles),
                       ("refinement", sets)):  # fmt: skip
        for i, s in enumerate(pool):
            if len(made[kind]) >= quota:
                break
            other = pool[(i + len(pool) // 2) % len(pool)] if pool else None
            conv = getattr(builder, kind)(s, other)
            if conv is not None:
                made[kind].append(conv)
    out = [c for k in FOLLOW_UPS for c in made[k]]
    return [out[i] for i in rng.permutation(len(out))][:n]


def conversation_pairs(agent: Any, conversations: list[SynthConversation]) -> list:
    """(stand-alone question, gold answers) of each follow-up, resolved as a
    :class:`~kgagent.dialogue.Conversation` of ``agent`` resolves it against a state
    holding the first turn's gold answers; a follow-up resolved to several questions (a
    reference to several answers) gives none (its gold is their union)."""
    from kgagent.dialogue import Conversation, DialogueState, Turn

    out = []
    for c in conversations:
        first = Turn(question=c.questions[0], asked=c.questions[0], kind="first",
                     topic=c.topic, answers=c.first, who=c.first_people,
                     category=c.category)  # fmt: skip
        reading = Conversation(agent, DialogueState([first])).resolve(c.questions[1])
        if len(reading.asked) == 1:
            out.append((reading.asked[0], c.answers[1]))
    return out


class _Builder:
    """One conversation of a kind from a sample (None where it cannot be made)."""

    def __init__(self, agent: Any, maker) -> None:
        self.agent = agent
        self.maker = maker
        self.g = maker.g
        self.lex = maker.lex
        self.phraser = maker.phraser
        self.rng = maker.rng
        self.R = self.lex.num_relations

    # -- the kinds --------------------------------------------------------------------------

    def reference(self, s, _other) -> SynthConversation | None:
        answers = s.answers
        if not 1 <= len(answers) <= MAX_REFERRED or not self.g.good_topic[answers].all():
            return None
        a = int(answers[int(self.rng.integers(len(answers)))])
        action = self._action(a, avoid=self._back(s.actions[0]))
        if action is None:
            return None
        follow = self._sample(a, action)
        said = self.phraser.phrase(follow) if follow is not None else None
        if said is None:
            return None
        walked = self.g.walk(answers, (action,), max_walks=500)
        gold = [self.g.node_label(int(x)) for w in walked if w is not None for x in w[0][-1]]
        word = "them" if len(answers) > 1 else ("they" if self._people(s) else "it")
        text = _referred(said[0], self.g.node_label(a), word)
        if text is None:
            return None
        return self._conversation("reference", s, text, tuple(dict.fromkeys(gold)))

    def ellipsis(self, s, _other) -> SynthConversation | None:
        action = self._action(s.topic, avoid=s.actions[0])
        follow = self._sample(s.topic, action) if action is not None else None
        said = self.phraser.phrase(follow) if follow is not None else None
        if said is None:
            return None
        label = self.g.node_label(s.topic)
        dropped = re.sub(rf"\s+(?:of|for|by|in)\s+{re.escape(label)}(?=\W*$)", "", said[0])
        if dropped != said[0]:
            text = "and " + dropped[:1].lower() + dropped[1:]
        elif self._people(s):  # "it" after "who ..." is the topic
            text = _referred(said[0], label, "it")
        else:
            return None
        if text is None:
            return None
        gold = tuple(self.g.node_label(int(x)) for x in follow.answers)
        return self._conversation("ellipsis", s, text, gold)

    def refinement(self, s, _other) -> SynthConversation | None:
        kind = "value_constraint" if self.rng.random() < 0.5 else "two_constraints"
        item = getattr(self.maker, kind)(s) or self.maker.value_constraint(s)
        if item is None:
            return None
        return self._conversation("refinement", s, item.question, item.answers)

    def switch(self, s, other) -> SynthConversation | None:
        if other is None or other.topic == s.topic:
            return None
        said = self.phraser.phrase(other)
        if said is None:
            return None
        opener = SWITCH_OPENERS[int(self.rng.integers(len(SWITCH_OPENERS)))]
        text = opener + (said[0][:1].lower() + said[0][1:] if opener else said[0])
        gold = tuple(self.g.node_label(int(x)) for x in other.answers)
        return self._conversation("switch", s, text, gold)

    # -- helpers ----------------------------------------------------------------------------

    def _conversation(self, kind, s, text: str, gold) -> SynthConversation | None:
        said = self.phraser.phrase(s)
        if said is None or not gold:
            return None
        first = tuple((self._iri(x), self.g.node_label(int(x))) for x in s.answers)
        text = text[:1].upper() + text[1:]
        text = text if text.rstrip().endswith("?") else text.rstrip(" .") + "?"
        return SynthConversation(
            kind=kind,
            questions=(said[0], text),
            answers=(tuple(label for _, label in first), tuple(gold)),
            topic=(self._iri(s.topic), self.g.node_label(s.topic)),
            first=first,
            first_people=self._people(s),
            category=len(first) == 1 and self._category(s.actions[0]),
        )

    def _action(self, node: int, *, avoid: int) -> int | None:
        """A one-hop action the lexicon can phrase from ``node`` (not ``avoid``)."""
        A = self.g.num_actions
        lo, hi = np.searchsorted(self.g.keys, [node * A, (node + 1) * A])
        here = sorted(set((self.g.keys[lo:hi] % A).tolist()) & set(self.lex.hops) - {avoid})
        return int(here[int(self.rng.integers(len(here)))]) if here else None

    def _sample(self, node: int, action: int):
        from kgagent.synth.chains import Sample

        walked = self.g.walk(np.array([node]), (action,), max_walks=500)[0]
        if walked is None or not len(walked[0][-1]):
            return None
        return Sample(int(node), (action,), *walked)

    def _people(self, s) -> bool:
        return self.phraser.levels(s)[-1].hop.kind == "person"

    def _category(self, action: int) -> bool:
        spread = getattr(self.agent, "relation_spread", None)
        if spread is None:
            return False
        relation = self.lex.predicates[action % self.R]
        return spread(relation, action >= self.R) >= SPREAD_CATEGORY

    def _back(self, action: int) -> int:
        return action + self.R if action < self.R else action - self.R

    def _iri(self, node) -> str:
        return iri_of(self.g.node_term(int(node)))


def _referred(question: str, label: str, word: str) -> str | None:
    """``question`` with ``label`` (in any case) replaced by a pronoun ("X's" by "its" /
    "their"); None where the question does not say the label."""
    possessive = {"it": "its", "they": "their", "them": "their"}[word]
    name = re.escape(label)
    out = re.sub(rf"{name}'s\b", possessive, question, count=1, flags=re.IGNORECASE)
    if out != question:
        return out
    m = re.search(name, question, flags=re.IGNORECASE)
    if m is None:
        return None
    said = ("They" if word == "them" else word.capitalize()) if m.start() == 0 else word
    return question[: m.start()] + said + question[m.end() :]
