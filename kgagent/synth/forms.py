"""How one hop can be said, read from the *shape* of its relation's label.

A relation label has a grammatical shape, and the shape says how a question about either
end reads: a passive "directed by" gives "who directed X" and "what did X direct"; a
possessive "has genre" gives "which genres does X have" and "films whose genre is X";
a prepositional "in language" gives "what language is X in" and "films in X"; a noun
"release year" gives "the release year of X" (and, since "release" is also a verb, "when
was X released"). Each hop (a relation read forwards or backwards) gets lists of
templates by the position of the answer in them:

* ``subj``: the answer is the clause's subject ("{wh} directed {x}");
* ``front``: a fronted question with inversion ("{whom} did {x} direct");
* ``echo``: the answer left in place ("{x} directed {whom}");
* ``objrel``: the answer is the missing object, for "the films {x} directed";
* ``mod``: a modifier after a noun for the answers ("directed by {x}").

Slots: ``{x}`` the anchor (the topic, or the noun phrase of the hops before),
``{wh}`` a question word for the answer as subject ("who", "which films"), ``{whn}`` one
that names a noun ("which genre"; templates with it need one), ``{whr}`` one that names
the answers' role ("which nationality"), ``{whom}`` a question word in object position,
``{rel}`` a relative pronoun ("who" or "that"), ``{its}`` "its" or "their".
``<sg|pl@a>`` agrees with the answers' number, ``<sg|pl@x>`` with the anchor's. A
template starting with ``^`` reads well only with a name in ``{x}`` ("what has genre X"),
not a noun phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from kgagent.synth import english as en

__all__ = ["Forms", "hop_forms"]

_COPULAS = {"is", "was", "are", "were"}
_HAVES = {"has", "have"}
#: participles of one-off events take "was": "when was X founded", "where was X born"
_EVENT_VERBS = {"born", "founded", "established", "created", "built", "published", "released",
                "made", "formed", "killed", "married", "elected", "appointed", "awarded",
                "named", "written", "directed", "produced", "discovered", "invented"}  # fmt: skip
#: 3rd-person verbs labels use on their own ("knows", "owns")
_PRESENT = re.compile(r"^[a-z]+(?<!s)s$")


@dataclass(frozen=True)
class Forms:
    """The templates of one hop (see the module docstring for their slots).

    Attributes:
        shape: the label's shape ("passive", "possessive", "noun", ...).
        role: the answers' role towards the anchor ("director" of a film), singular.
        fixed: the role keeps the label's own number ("imdb votes").
        noun: a noun for the answers when their class gives none ("award": "won award").
        event: the participle of a year/date label's event ("released").
        unit: a unit in the label's parentheses ("minutes" of "runtime (minutes)").
    """

    shape: str
    role: str | None = None
    fixed: bool = False
    noun: str | None = None
    event: str | None = None
    unit: str | None = None
    subj: tuple[str, ...] = ()
    front: tuple[str, ...] = ()
    echo: tuple[str, ...] = ()
    objrel: tuple[str, ...] = ()
    mod: tuple[str, ...] = ()


def _esc(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def hop_forms(label: str, *, inverse: bool, kind: str, multi: bool) -> Forms:
    """The templates of a relation read forwards (``inverse`` False: the answer is the
    object) or backwards (the answer is the subject).

    Args:
        label: the relation's label ("directed by", "has genre", "release year").
        inverse: read from the object to the subject.
        kind: what the answers are: "person", "year", "date", "number" or "thing".
        multi: a subject often has several objects ("whose genres include X"; a plural
            label of a single-valued relation keeps its number: "imdb votes").
    """
    core = re.sub(r"\s*\(([^)]*)\)\s*$", "", label).strip()
    unit = label[len(core) :].strip(" ()") or None
    words = _esc(core).split()
    low = [w.lower() for w in words]
    if not words:
        return Forms("unknown")
    if low[0] in _COPULAS and len(words) > 1:  # "is part of" -> "part of"
        words, low = words[1:], low[1:]
    if low[0] in _HAVES and len(words) > 1:
        return _possessive(" ".join(words[1:]), inverse, kind, multi, unit)
    if low[-1] == "by" and len(words) >= 2:
        if en.past_tense(low[0]) is not None:
            return _passive(words[:-1], inverse, kind)
        return _noun_by(" ".join(words[:-1]), inverse)
    if low[0] in en.PREPOSITIONS and len(words) > 1:
        return _prepositional(words[0], " ".join(words[1:]), inverse, kind)
    if low[-1] in en.PREPOSITIONS and len(words) >= 2:
        verb, prep = low[0], words[-1]
        if en.past_tense(verb) is not None:
            base = en.base_form(verb)
            if en.is_intransitive(base):
                return _active(words, inverse)
            return _state(words, inverse)
        if len(words) == 2 and _present_base(verb):
            return _present([_present_base(verb), prep], inverse)
        return _noun_of(" ".join(words[:-1]), prep, inverse)
    if len(words) == 1:
        if low[0].endswith("ing") and len(low[0]) > 4:
            return _ing(words[0], inverse)
        if en.past_tense(low[0]) is not None and en.base_form(low[0]):
            return _verb(low[0], None, inverse)
        if _present_base(low[0]):
            return _present([_present_base(low[0])], inverse)
    elif en.past_tense(low[0]) and en.base_form(low[0]) and not en.is_plural(" ".join(words[1:])):
        return _verb(low[0], " ".join(words[1:]), inverse)  # "won award"
    return _possessive(" ".join(words), inverse, kind, multi, unit, shape="noun")


#: verbs whose 3rd-person form is a whole relation label ("knows", "owns")
_KNOWN_PRESENT = {
    "know", "like", "love", "own", "contain", "include", "influence", "follow", "use",
    "produce", "employ", "border", "precede", "succeed", "cite", "require", "cause", "treat",
    "affect", "interact", "speak", "play", "support", "oppose", "host", "govern",
}  # fmt: skip


def _present_base(word: str) -> str | None:
    """The base of a 3rd-person verb a label uses ("knows" -> "know", "lives" -> "live");
    None for anything else (a plural noun: "members")."""
    if not _PRESENT.match(word):
        return None
    base = word[:-2] if word.endswith(("ches", "shes", "sses", "xes", "zes")) else word[:-1]
    return base if base in _KNOWN_PRESENT or en.is_intransitive(base) else None


def _role(noun: str, multi: bool) -> tuple[str, bool]:
    """(singular role, fixed): a plural label noun of a single-valued relation keeps its
    number ("imdb votes"); otherwise the role is singular and agrees with the answers
    (people are always counted: "starred actors" -> "starred actor")."""
    if en.is_plural(noun) and not multi and not en.is_person_noun(noun):
        return noun, True
    return en.singular(noun), False


def _possessive(noun, inverse, kind, multi, unit, shape="possessive") -> Forms:
    role, fixed = _role(noun, multi)
    event = None
    head, _, last = role.rpartition(" ")
    if kind in ("year", "date") and last.lower() in ("year", "date") and head:
        event = en.event_participle(head)
    if not inverse:
        front = ["{whr} <does|do@x> {x} have"] if kind in ("thing", "person") else []
        if event:
            front += [f"when <was|were@x> {{x}} {event}"]
            front += (
                [
                    f"what year <was|were@x> {{x}} {event}",
                    f"in which year <was|were@x> {{x}} {event}",
                ]
                if kind == "year"
                else [f"on what date <was|were@x> {{x}} {event}"]
            )
        if kind == "number" and unit:
            front += [f"how many {unit} <is the {role}|are the {en.plural(role)}@x> of {{x}}"]
        elif kind == "number" and fixed:
            front += [f"how many {role} <does|do@x> {{x}} have"]
        return Forms(shape, role=role, fixed=fixed, event=event, unit=unit, front=tuple(front))
    roles = role if fixed else en.plural(role)
    whose = f"whose {roles} include {{x}}" if multi and not fixed else f"whose {role} is {{x}}"
    agreed = f"<{role}|{roles}@x>"  # "has X as its genre", "has the Xs of Y as its genres"
    subj = [f"{{wh}} <has|have@a> {{x}} as {{its}} {agreed}", f"^{{wh}} <has|have@a> {noun} {{x}}"]
    mod = [f"with {{x}} as {{its}} {agreed}", whose]
    if event:
        prep = "in" if kind == "year" else "on"
        subj += [f"{{wh}} <was|were@a> {event} {prep} {{x}}"]
        mod += [f"{event} {prep} {{x}}"]
    return Forms(
        shape,
        event=event,
        unit=unit,
        subj=tuple(subj),
        front=(f"{{whom}} <is|are@x> {{x}} the {agreed} of",),
        echo=(f"{{x}} <is|are@x> the {agreed} of {{whom}}",),
        mod=tuple(mod),
    )


def _passive(vp_words, inverse, kind) -> Forms:
    """ "directed by": the answer is the agent (forwards) or what it made (backwards)."""
    vp = " ".join(vp_words)
    rest = " ".join(vp_words[1:])
    past = " ".join(x for x in (en.past_tense(vp_words[0].lower()), rest) if x)
    base_word = en.base_form(vp_words[0].lower())
    base = " ".join(x for x in (base_word, rest) if x) if base_word else None
    if not inverse:
        role = en.agent_noun(base_word) if base_word and not rest else None
        return Forms(
            "passive",
            role=role,
            subj=(f"{{wh}} {past} {{x}}",),
            front=(f"by {{whom}} <was|were@x> {{x}} {vp}",),
            echo=(f"{{x}} <was|were@x> {vp} by {{whom}}",),
            mod=(f"{{rel}} {past} {{x}}",),
        )
    return Forms(
        "passive",
        subj=(f"{{wh}} <was|were@a> {vp} by {{x}}",),
        front=(f"{{whom}} did {{x}} {base}",) if base else (),
        echo=(f"{{x}} {past} {{whom}}",),
        objrel=(f"{{x}} {past}",),
        mod=(f"{vp} by {{x}}", f"{{rel}} <was|were@a> {vp} by {{x}}"),
    )


def _noun_by(noun, inverse) -> Forms:
    """ "music by": the answer made the thing's <noun>, or has a <noun> by the anchor."""
    if not inverse:
        return Forms(
            "noun-by",
            subj=(f"{{wh}} did the {noun} for {{x}}",),
            front=(f"{{wh}} is the {noun} of {{x}} by",),
            echo=(f"the {noun} of {{x}} is by {{whom}}",),
            mod=(f"{{rel}} did the {noun} for {{x}}",),
        )
    return Forms(
        "noun-by",
        subj=(f"{{wh}} <has|have@a> {noun} by {{x}}",),
        echo=(f"{{x}} did the {noun} for {{whom}}",),
        objrel=(f"{{x}} did the {noun} for",),
        mod=(f"with {noun} by {{x}}",),
    )


def _prepositional(prep, noun, inverse, kind) -> Forms:
    """ "in language": "what language is X in", "films in X"."""
    if not inverse:
        return Forms("prepositional", role=en.singular(noun), noun=en.singular(noun),
                     front=(f"{{whn}} <is|are@x> {{x}} {prep}",))  # fmt: skip
    return Forms(
        "prepositional",
        subj=(f"{{wh}} <is|are@a> {prep} {{x}}",),
        mod=(f"{prep} {{x}}",),
    )


def _state(words, inverse) -> Forms:
    """ "based on", "located in": a state the subject is in."""
    vp, ppl, prep = " ".join(words), words[0], words[-1]
    be = "<was|were@{}>" if ppl.lower() in _EVENT_VERBS else "<is|are@{}>"
    if not inverse:
        front = [f"{{whom}} {be.format('x')} {{x}} {vp}"]
        if len(words) == 2:
            front.append(f"{prep} {{whn}} {be.format('x')} {{x}} {ppl}")
        return Forms(
            "state",
            front=tuple(front),
            echo=(f"{{x}} {be.format('x')} {vp} {{whom}}",),
            objrel=(f"{{x}} {be.format('x')} {vp}",),
        )
    return Forms("state", subj=(f"{{wh}} {be.format('a')} {vp} {{x}}",), mod=(f"{vp} {{x}}",))


def _active(words, inverse) -> Forms:
    """ "acted in": an action the subject did, with a preposition."""
    verb, middle, prep = words[0].lower(), " ".join(words[1:-1]), words[-1]
    past = " ".join(x for x in (en.past_tense(verb), middle) if x)
    base = " ".join(x for x in (en.base_form(verb), middle) if x)
    ppl = " ".join(x for x in (en.participle_of(en.base_form(verb) or verb), middle) if x)
    if not inverse:
        return Forms(
            "active",
            front=(f"{{whom}} did {{x}} {base} {prep}", f"{{wh}} <has|have@x> {{x}} {ppl} {prep}"),
            echo=(f"{{x}} {past} {prep} {{whom}}",),
            objrel=(f"{{x}} {past} {prep}",),
        )
    return Forms(
        "active", subj=(f"{{wh}} {past} {prep} {{x}}",), mod=(f"{{rel}} {past} {prep} {{x}}",)
    )


def _present(words, inverse) -> Forms:
    """ "knows", "lives in": a present-tense verb (with an optional preposition)."""
    base, tail = words[0], " ".join(words[1:])  # base form already
    s = "es" if base.endswith(("s", "x", "z", "ch", "sh")) else "s"
    after = f" {tail}" if tail else ""
    if not inverse:
        return Forms(
            "present",
            front=(f"{{whom}} <does|do@x> {{x}} {base}{after}",),
            echo=(f"{{x}} {base}<{s}|@x>{after} {{whom}}",),
            objrel=(f"{{x}} {base}<{s}|@x>{after}",),
        )
    return Forms(
        "present",
        subj=(f"{{wh}} {base}<{s}|@a>{after} {{x}}",),
        mod=(f"{{rel}} {base}<{s}|@a>{after} {{x}}",),
    )


def _noun_of(noun, prep, inverse) -> Forms:
    """ "sequel of": X is a sequel of Y."""
    one, many = f"{en.article(noun)} {noun}", en.plural(noun)
    if not inverse:
        return Forms(
            "noun-of",
            front=(f"{{whom}} <is|are@x> {{x}} <{one}|{many}@x> {prep}",),
            echo=(f"{{x}} <is|are@x> <{one}|{many}@x> {prep} {{whom}}",),
            objrel=(f"{{x}} <is|are@x> <{one}|{many}@x> {prep}",),
        )
    role = en.singular(noun) if prep.lower() == "of" else None
    return Forms(
        "noun-of",
        role=role,
        subj=(f"{{wh}} <is|are@a> <{one}|{many}@a> {prep} {{x}}",),
        mod=(f"that <is|are@a> <{one}|{many}@a> {prep} {{x}}",),
    )


def _ing(word, inverse) -> Forms:
    """ "starring": X starring Y."""
    if not inverse:
        return Forms(
            "ing",
            front=(f"{{whom}} <is|are@x> {{x}} {word}",),
            echo=(f"{{x}} <is|are@x> {word} {{whom}}",),
            objrel=(f"{{x}} <is|are@x> {word}",),
        )
    return Forms(
        "ing",
        subj=(f"{{wh}} <is|are@a> {word} {{x}}",),
        mod=(f"{word} {{x}}", f"{{rel}} <is|are@a> {word} {{x}}"),
    )


def _verb(verb, obj, inverse) -> Forms:
    """ "directed", "won award": an active verb, maybe with its object's noun."""
    base = en.base_form(verb)
    past = en.past_tense(verb) or verb
    ppl = en.participle_of(base) if base else verb
    if not inverse:
        return Forms(
            "verb",
            noun=en.singular(obj) if obj else None,
            front=(f"{{whom}} did {{x}} {base}", f"{{wh}} <has|have@x> {{x}} {ppl}"),
            echo=(f"{{x}} {past} {{whom}}",),
            objrel=(f"{{x}} {past}",),
            mod=(f"{ppl} by {{x}}",),
        )
    return Forms("verb", subj=(f"{{wh}} {past} {{x}}",), mod=(f"{{rel}} {past} {{x}}",))


def with_templates(forms: Forms, forward: str, inverse_template: str, *, inverse: bool) -> Forms:
    """``forms`` plus the verbalizer's sentence templates turned into questions: the
    answer's slot first gives a ``subj`` form, last an ``echo`` one.

    ``forward`` reads "{subject} ... {object}", ``inverse_template`` the same fact from
    the object; the answer is the object of a forward hop, the subject of a backward one.
    """
    answer, anchor = ("{subject}", "{object}") if inverse else ("{object}", "{subject}")
    subj, echo = list(forms.subj), list(forms.echo)
    for template in (forward, inverse_template):
        t = template.strip().rstrip(".")
        t = t[:1].lower() + t[1:] if t[1:2].islower() else t
        if t.count(answer) != 1 or t.count(anchor) != 1:
            continue
        filled = _esc(t).replace("{" + answer + "}", "\0").replace("{" + anchor + "}", "{x}")
        if filled.startswith("\0"):
            subj.append(filled.replace("\0", "{wh}"))
        elif filled.endswith("\0"):
            echo.append(filled.replace("\0", "{whom}"))
    return replace(forms, subj=tuple(dict.fromkeys(subj)), echo=tuple(dict.fromkeys(echo)))
