"""A sampled chain as a question a user would type.

The hops before the last become nested noun phrases, innermost first ("the director of
X", "the films directed by the director of X", "what X wrote"); the last hop becomes the
question, in one of several frames: a wh-question with the answer as subject ("which
films were directed by ..."), fronted ("what did ... direct"), echoed ("... directed
what"), a role question ("who is the director of ..."), an imperative ("list the films
..."), a bare noun phrase, or the property's own ``kga:question``. A hop walking back the
way the previous one came reads as sharing ("films that share a director with X") or
as "other"/"else" ("who else directed ...").

Frames are drawn uniformly by category and then within it, so a shape with many
templates does not crowd out the rest; case and the question mark vary too, as typed
questions do. The template id of a question names its frame and noun phrases by
category and label shape ("q.subj:passive<np.role:passive"), never by relation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kgagent.synth import english as en

if TYPE_CHECKING:
    from kgagent.synth.chains import Sample
    from kgagent.synth.lexicon import Hop, Lexicon

__all__ = ["Level", "Phraser", "render"]

_AGREE = re.compile(r"<([^<>|@]*)\|([^<>|@]*)@([ax])>")
_DOUBLED = re.compile(r"\b(\w+) \1\b", re.IGNORECASE)
_COMMANDS = ("list", "name", "give me", "show me", "tell me", "find")
_CATEGORY_WEIGHT = {"np": 0.5, "cmd": 0.7, "annotation": 3.0}


@dataclass(frozen=True)
class Level:
    """One noun phrase of a question: a hop, or two hops that walk back (``share``).

    Attributes:
        hop: the (last) hop of the level.
        nodes: the distinct nodes it reaches (its number).
        via: those on the walks to the answers (its class).
        share: the first of two hops whose answers share something with the anchor.
        other: its answers leave out something of their own kind ("other", "else").
    """

    hop: Hop
    nodes: np.ndarray
    via: np.ndarray
    share: Hop | None = None
    other: bool = False

    @property
    def n(self) -> int:
        return len(self.nodes)


@dataclass(frozen=True)
class _Option:
    category: str
    id: str
    text: str
    plural: bool  # number of <..@a> agreement
    weight: float = 1.0


class Phraser:
    """Turns samples into questions.

    Args:
        lexicon: the hops' kinds, nouns and templates.
        rng: the seeded generator (every choice is drawn from it).
        brackets: wrap the topic in [ ] (the MetaQA convention).
    """

    def __init__(self, lexicon: Lexicon, *, rng: np.random.Generator, brackets: bool = False):
        self.lex = lexicon
        self.rng = rng
        self.brackets = brackets

    def _pick(self, items: Sequence):
        return items[int(self.rng.integers(len(items)))]

    def _choose(self, options: Sequence[_Option]) -> _Option:
        w = np.array([o.weight for o in options], dtype=np.float64)
        return options[int(self.rng.choice(len(options), p=w / w.sum()))]

    # -- the chain's levels -----------------------------------------------------------------

    def levels(self, sample: Sample) -> list[Level]:
        hops = [self.lex.hops[a] for a in sample.actions]
        out: list[Level] = []
        i = 0
        while i < len(hops):
            h = hops[i]
            back = i + 1 < len(hops) and self.lex.reverses(h.action, hops[i + 1].action)
            if back and (h.forms.role or h.forms.event):
                out.append(Level(hops[i + 1], sample.reached[i + 1], sample.via[i + 1], h, True))
                i += 2
                continue
            other = i > 0 and self.lex.reverses(hops[i - 1].action, h.action)
            out.append(Level(h, sample.reached[i], sample.via[i], other=other))
            i += 1
        return out

    # -- one question -----------------------------------------------------------------------

    def phrase(self, sample: Sample) -> tuple[str, str] | None:
        """(question, template id) of a sample; None if a hop has no way to be said.

        A draw that stacks two verbs ("what the people who wrote what X directed
        directed") is drawn again."""
        topic = self.lex.graph.node_label(sample.topic)
        said = None
        for _ in range(4):
            said = self._phrase(sample, topic)
            rest = re.sub(re.escape(topic), " ", said[0], flags=re.IGNORECASE) if said else ""
            if said is None or not _DOUBLED.search(rest):
                return said
        return said

    def _phrase(self, sample: Sample, topic: str) -> tuple[str, str] | None:
        x = f"[{topic}]" if self.brackets else topic
        nx, ids = 1, []
        levels = self.levels(sample)
        for level in levels[:-1]:
            options = self._noun_phrases(level, x, not ids, self._noun(level))
            if not options:
                return None
            o = self._choose(options)
            fields = {"x": x, "rel": "who" if level.hop.kind == "person" else "that"}
            x = render(o.text, plural_a=o.plural, plural_x=nx > 1, fields=fields)
            nx = level.n if o.plural else 1
            ids.append(f"{o.id}:{level.hop.forms.shape}")
        last = levels[-1]
        noun = self._noun(last)
        options = self._questions(last, x, not ids, noun)
        if not options:
            return None
        categories = sorted({o.category for o in options})
        weight = dict(_CATEGORY_WEIGHT)
        if last.hop.kind in ("year", "date"):
            weight["front"] = 2.5  # "when was X released", "what year was X released"
        weights = np.array([weight.get(c, 1.0) for c in categories])
        category = categories[int(self.rng.choice(len(categories), p=weights / weights.sum()))]
        o = self._pick([o for o in options if o.category == category])
        fields = self._wh(last, noun, o.plural)
        plural = o.plural and (
            o.category not in ("subj", "share") or fields["wh"] != fields["bare"]
        )
        text = render(o.text, plural_a=plural, plural_x=nx > 1, fields={"x": x, **fields})
        ids.reverse()
        return self._style(text, category), "<".join([f"{o.id}:{last.hop.forms.shape}", *ids])

    def noun_phrase(self, sample: Sample) -> str | None:
        """A one-hop sample's answers as a noun phrase that starts with "the" ("the films
        directed by X", "the films X directed"; "the things ..." where neither the
        classes nor the label give a noun), drawn from its forms; None if it has none.
        Typed questions wrap it ("how many films directed by X")."""
        if len(sample.actions) != 1:
            return None
        level = self.levels(sample)[-1]
        topic = self.lex.graph.node_label(sample.topic)
        default = "person" if level.hop.kind == "person" else "thing"
        noun = self._noun(level) or level.hop.noun or level.hop.forms.noun or default
        options = [o for o in self._noun_phrases(level, topic, True, noun)
                   if o.text.startswith("the ") and o.plural]  # fmt: skip
        if not options:
            return None
        o = self._choose(options)
        fields = {"x": topic, "rel": "who" if level.hop.kind == "person" else "that"}
        return re.sub(r"\s+", " ", render(o.text, plural_a=True, plural_x=False, fields=fields))

    def _style(self, text: str, category: str) -> str:
        """Case and end punctuation as people type them."""
        r = self.rng.random()
        if category == "cmd":
            end = "." if r < 0.3 else ""
        elif category == "np":
            end = "?" if r < 0.5 else ""
        else:
            end = "?" if r < 0.75 else ""
        text = re.sub(r"\s+", " ", text).strip() + end
        c = self.rng.random()
        if c < 0.15:
            return text.lower()
        if c < 0.6:
            return text[:1].upper() + text[1:]
        return text

    # -- words for the answers --------------------------------------------------------------

    def _noun(self, level: Level) -> str | None:
        """The most specific class a level's entities all share (typed graphs; the hop's
        own class first among equals), else the hop's noun."""
        hop = level.hop
        if hop.kind in ("year", "date", "number"):
            return None
        onto = self.lex.ontology
        common: set[str] | None = None
        for node in level.via[:30].tolist():
            term = self.lex.graph.node_term(node)
            types = onto.types(term[1:-1]) if term.startswith("<") else []
            if not types:
                common = None
                break
            closure = {c for t in types for c in (t, *onto.ancestors(t))}
            common = closure if common is None else common & closure
        if common:
            best = max(common, key=lambda c: (len(onto.ancestors(c)), c in hop.classes, c))
            return en.lower_label(onto.label(best))
        return hop.noun or hop.forms.noun

    def _wh(self, level: Level, noun: str | None, plural: bool) -> dict[str, str]:
        hop = level.hop
        else_, other = (" else", "other ") if level.other else ("", "")
        if hop.kind in ("year", "date"):
            noun = noun or hop.kind
        named = noun or hop.forms.role
        nouns = (named if hop.forms.fixed else en.plural(named)) if plural and named else named
        which = (
            f"{'which' if self.rng.random() < 0.6 else 'what'} {other}{nouns}" if named else None
        )
        bare = "who" if hop.kind == "person" else "what"
        use_noun = noun is not None and self.rng.random() < (0.6 if plural else 0.3)
        wh = which if use_noun else bare + else_
        if which and self.rng.random() < 0.4:
            whom = which
        elif hop.kind == "person":
            whom = "whom" + else_
        else:
            whom = "what" + else_
        role = hop.forms.role
        roles = (role if hop.forms.fixed or not plural else en.plural(role)) if role else None
        whr = f"{'which' if self.rng.random() < 0.6 else 'what'} {other}{roles}" if role else which
        return {"wh": wh, "whn": which or bare, "whr": whr or bare, "whom": whom,
                "bare": bare + else_, "rel": "who" if hop.kind == "person" else "that"}  # fmt: skip

    def _head(self, hop: Hop, noun: str | None, plural: bool) -> str | None:
        noun = noun or hop.noun or hop.forms.noun
        if noun is None and hop.kind == "person":
            noun = "person"
        if noun is None:
            return None
        return en.plural(noun) if plural else noun

    # -- noun phrases and questions -----------------------------------------------------------

    def _noun_phrases(self, level: Level, x: str, at_topic: bool, noun: str | None = None):
        hop, plural = level.hop, level.n > 1
        other = "other " if level.other else ""
        else_ = " else" if level.other else ""
        head = self._head(hop, noun, plural)
        out: list[_Option] = []
        if level.share is not None:
            first = level.share
            lead = f"the {head} {{rel}}" if head else "everything that"
            if first.forms.role:
                out.append(_Option("np", "np.share", f"{lead} {_share(first)} {{x}}",
                                   bool(head) and plural))  # fmt: skip
            if first.forms.event and first.kind == "year":
                lead = lead.removesuffix(" {rel}").removesuffix(" that")
                out.append(_Option("np", "np.share", f"{lead} {first.forms.event} in the same "
                                   "year as {x}", bool(head) and plural))  # fmt: skip
            return out
        role = hop.forms.role
        if role:
            roles = role if hop.forms.fixed or not plural else en.plural(role)
            out.append(_Option("np", "np.role", f"the {other}{roles} of {{x}}", plural))
            if at_topic:
                out.append(_Option("np", "np.possessive", f"{_pos(x)} {other}{roles}", plural))
        for m in hop.forms.mod:
            if head:
                out.append(_Option("np", "np.mod", f"the {other}{head} {m}", plural))
            else:
                out.append(_Option("np", "np.every", f"everything{else_} {m}", False))
        for s in _usable(hop.forms.subj, at_topic):
            if s.startswith("{wh} "):
                rest = s[len("{wh} ") :]
                if head:
                    out.append(_Option("np", "np.rel", f"the {other}{head} {{rel}} {rest}", plural))
                else:
                    out.append(_Option("np", "np.free", f"what{else_} {rest}", False, 0.3))
        for o in hop.forms.objrel:
            if head:
                out.append(_Option("np", "np.objrel", f"the {other}{head} {o}", plural))
                out.append(_Option("np", "np.objrel", f"the {other}{head} that {o}", plural))
            else:
                out.append(_Option("np", "np.free", f"what{else_} {o}", False))
        return out

    def _questions(self, level: Level, x: str, at_topic: bool, noun: str | None):
        hop, plural = level.hop, level.n > 1
        nps = self._noun_phrases(level, x, at_topic, noun)
        out: list[_Option] = []
        for np_ in nps:
            out.append(_Option("cmd", "cmd", f"{self._pick(_COMMANDS)} {np_.text}", np_.plural))
            out.append(_Option("np", "np", np_.text, np_.plural))
            free = np_.text.startswith("everything")
            if not free and np_.id not in ("np.every", "np.free", "np.role", "np.possessive"):
                bare = "who" if hop.kind == "person" else "what"
                out.append(_Option("what", "q.what", f"{bare} <is|are@a> {np_.text}", np_.plural))
        if level.share is not None:
            first = level.share
            if first.forms.role:
                m = first.forms.role
                out.append(_Option("share", "q.share", f"{{wh}} {_share(first)} {{x}}", plural))
                out.append(_Option("share", "q.share", f"{{wh}} <has|have@a> the same {m} as {{x}}",
                                   plural))  # fmt: skip
            if first.forms.event and first.kind == "year":
                out.append(_Option("share", "q.share", f"{{wh}} <was|were@a> {first.forms.event} "
                                   "in the same year as {x}", plural))  # fmt: skip
            return out
        role = hop.forms.role
        if role:
            roles = role if hop.forms.fixed or not plural else en.plural(role)
            bare = "who" if hop.kind == "person" else "what"
            other = "other " if level.other else ""
            out.append(_Option("role", "q.role", f"{bare} <is|are@a> the {other}{roles} of {{x}}",
                               plural or hop.forms.fixed))  # fmt: skip
            if at_topic:
                out.append(_Option("role", "q.possessive", f"{bare} <is|are@a> {_pos(x)} "
                                   f"{other}{roles}", plural or hop.forms.fixed))  # fmt: skip
            out.append(_Option("echo", "q.role_echo", f"the {other}{roles} of {{x}} <is|are@a> "
                               f"{bare}", plural or hop.forms.fixed))  # fmt: skip
        named = bool(noun or hop.noun or hop.forms.noun or role or hop.kind in ("year", "date"))
        for t in _usable(hop.forms.subj, at_topic):
            out.append(_Option("subj", "q.subj", t, plural))
        for t in hop.forms.front:
            if ("{whn}" not in t or named) and ("{whr}" not in t or role or named):
                out.append(_Option("front", "q.front", t, plural))
        for t in hop.forms.echo:
            out.append(_Option("echo", "q.echo", t, plural and named))
        for t in hop.asks:
            out.append(_Option("annotation", "q.annotation", t, plural))
        return out


def _usable(templates: Sequence[str], at_topic: bool) -> list[str]:
    """The templates that read well with this anchor ("^": only with a name)."""
    return [t.lstrip("^") for t in templates if at_topic or not t.startswith("^")]


def _share(first: Hop) -> str:
    """ "share(s) a director with" (the role of the hop whose end is shared)."""
    m = first.forms.role or ""
    if first.forms.fixed:
        return f"<has|have@a> the same {m} as"
    return f"share<s|@a> {en.article(m)} {m} with"


def _pos(x: str) -> str:
    """The possessive of the anchor, as a template piece ("{x}'s")."""
    return "{x}'" if x.endswith("s") else "{x}'s"


def render(template: str, *, plural_a: bool, plural_x: bool, fields: dict[str, str]) -> str:
    """A template with its agreement markers resolved and its slots filled."""

    def agree(m: re.Match[str]) -> str:
        plural = plural_a if m.group(3) == "a" else plural_x
        return m.group(2) if plural else m.group(1)

    text = _AGREE.sub(agree, template)
    if text.startswith("{whom}") and fields.get("whom", "").startswith("whom"):
        text = "{who}" + text[len("{whom}") :]  # "who is X starring", not "whom is"
        fields = {**fields, "who": "who" + fields["whom"][len("whom") :]}
    fields = {"its": "their" if plural_a or fields.get("rel") == "who" else "its", **fields}
    names = ("x", "wh", "whn", "whr", "whom", "who", "rel", "its")
    return text.format(**{k: fields.get(k, "") for k in names})
