"""Just enough English morphology to turn relation labels into questions.

Everything here is knowledge of the English language, never of a dataset: how nouns
pluralise, which article a noun takes, the base form and agent noun of a verb
("directed" -> "direct" -> "director"), which head nouns name people, and which verbs are
intransitive ("acted in" reads actively, "based on" as a state). A graph's own words
(its labels) are only ever inputs.
"""

from __future__ import annotations

import re

from kgagent.text import IRREGULAR_VERBS, past_tense

__all__ = [
    "PREPOSITIONS",
    "agent_noun",
    "article",
    "base_form",
    "is_person_noun",
    "is_plural",
    "lower_label",
    "participle_of",
    "past_tense",
    "plural",
    "possessive",
    "singular",
    "value_kind",
]

PREPOSITIONS = frozenset(
    {"in", "of", "from", "at", "on", "for", "with", "to", "into", "about", "by", "under",
     "over", "after", "before", "near", "within", "during", "through", "as", "like"}
)  # fmt: skip

#: head nouns that name people (or agents that answer to "who")
_PERSON_NOUNS = frozenset(
    {"person", "people", "human", "individual", "agent", "actor", "actress", "author",
     "writer", "director", "producer", "composer", "member", "founder", "spouse", "wife",
     "husband", "parent", "child", "sibling", "brother", "sister", "mother", "father", "son",
     "daughter", "friend", "partner", "player", "leader", "president", "employee", "student",
     "teacher", "artist", "singer", "musician", "creator", "inventor", "editor", "owner",
     "designer", "architect", "painter", "performer", "star", "cast", "crew", "contributor",
     "winner", "candidate", "coach", "manager", "chair", "chairman", "advisor", "adviser",
     "supervisor", "narrator", "translator", "illustrator", "photographer", "cinematographer",
     "screenwriter", "novelist", "poet", "playwright", "scientist", "researcher", "doctor",
     "physician", "patient", "customer", "client", "user", "colleague", "relative",
     "ancestor", "descendant", "successor", "predecessor", "mentor", "pupil", "worker",
     "officer", "minister", "king", "queen", "ruler", "politician", "athlete", "citizen",
     "resident", "inhabitant", "speaker", "presenter", "host", "guest", "voice", "collaborator",
     "co-author", "coauthor", "investigator", "developer", "programmer"}
)  # fmt: skip

#: verbs that take no direct object: "acted in X" is an action, "based on X" a state
_INTRANSITIVE = frozenset(
    {"act", "appear", "star", "play", "work", "study", "live", "die", "participate",
     "compete", "graduate", "serve", "perform", "belong", "arrive", "travel", "reside",
     "originate", "emerge", "occur", "happen", "result", "vote", "sing", "dance", "speak",
     "come", "go", "run", "stay", "teach", "fight", "lie", "sit", "stand", "rise", "fall",
     "move", "flow", "grow", "collaborate", "contribute", "invest", "succeed", "debut"}
)  # fmt: skip

_IRREGULAR_PLURALS = {
    "person": "people", "child": "children", "man": "men", "woman": "women",
    "foot": "feet", "tooth": "teeth", "mouse": "mice", "goose": "geese",
}  # fmt: skip
_IRREGULAR_SINGULARS = {v: k for k, v in _IRREGULAR_PLURALS.items()}
_UNCHANGING = frozenset({"series", "species", "news", "data", "media", "sheep", "deer"})
#: participle and simple past -> base, for the irregular verbs
_BASES = {form: base for base, past, part in IRREGULAR_VERBS for form in (past, part)}
_PARTICIPLES = {base: part for base, _, part in IRREGULAR_VERBS}
_YEAR = re.compile(r"^-?\d{4}$")
_NUMBER = re.compile(r"^[-+]?\d[\d,]*(\.\d+)?$")
_DATE = re.compile(r"^-?\d{4}-\d{2}(-\d{2})?")
_VOWELS = frozenset("aeiou")
#: "-eat" verbs that take no final e ("treated" -> "treat")
_EAT_NO_E = ("treat", "heat", "seat", "beat", "peat", "feat", "cheat", "bleat")


def _split_last(phrase: str) -> tuple[str, str, str]:
    """(words before the head, head word, trailing parenthetical) of a noun phrase."""
    m = re.match(r"^(.*?)(\s*\([^)]*\))?$", phrase.strip())
    core, tail = (m.group(1), m.group(2) or "") if m else (phrase, "")
    head, _, last = core.rpartition(" ")
    return (head + " " if head else ""), last, tail


def is_plural(noun: str) -> bool:
    """Whether a noun phrase's head word reads as plural ("starred actors", "people")."""
    head, of, _ = noun.partition(" of ")
    if of and head:
        return is_plural(head)
    _, last, _ = _split_last(noun)
    low = last.lower()
    if low in _IRREGULAR_SINGULARS:
        return True
    if low in _UNCHANGING or low in _IRREGULAR_PLURALS:
        return False
    return low.endswith("s") and not low.endswith(("ss", "us", "is", "ics"))


def plural(noun: str) -> str:
    """The plural of a noun phrase (its head word inflected; plurals stay as they are):
    "country of origin" -> "countries of origin"."""
    head, of, rest = noun.partition(" of ")
    if of and head:
        return plural(head) + of + rest
    if not noun or is_plural(noun):
        return noun
    before, last, tail = _split_last(noun)
    low = last.lower()
    if low in _IRREGULAR_PLURALS:
        out = _IRREGULAR_PLURALS[low]
    elif low in _UNCHANGING or not low.isalpha():
        out = last
    elif low.endswith(("s", "x", "z", "ch", "sh")):
        out = last + "es"
    elif low.endswith("y") and len(low) > 1 and low[-2] not in _VOWELS:
        out = last[:-1] + "ies"
    else:
        out = last + "s"
    return before + out + tail


def singular(noun: str) -> str:
    """The singular of a noun phrase ("starred actors" -> "starred actor")."""
    head, of, rest = noun.partition(" of ")
    if of and head:
        return singular(head) + of + rest
    if not noun or not is_plural(noun):
        return noun
    before, last, tail = _split_last(noun)
    low = last.lower()
    if low in _IRREGULAR_SINGULARS:
        out = _IRREGULAR_SINGULARS[low]
    elif low.endswith("ies") and len(low) > 4:
        out = last[:-3] + "y"
    elif low.endswith(("sses", "ches", "shes", "xes", "zes")):
        out = last[:-2]
    else:
        out = last[:-1]
    return before + out + tail


def article(phrase: str) -> str:
    """ "a" or "an" before a phrase (by its first letter, with the common exceptions)."""
    low = phrase.strip().lower()
    if low.startswith(("uni", "use", "eu", "one", "once")):
        return "a"
    if low.startswith(("hour", "honest", "honor", "honour", "heir")):
        return "an"
    return "an" if low[:1] in _VOWELS else "a"


def possessive(name: str) -> str:
    """ "X's" (or "X'" after a final s)."""
    return name + ("'" if name.endswith("s") else "'s")


def lower_label(label: str) -> str:
    """A class label used as a common noun: "Film" -> "film", "US state" stays."""
    words = label.strip().split()
    return " ".join(
        w if (len(w) > 1 and w[1:2].isupper()) or not w[:1].isupper() else w[0].lower() + w[1:]
        for w in words
    )


def base_form(verb: str) -> str | None:
    """The base form of a participle or simple past ("directed" -> "direct",
    "written" -> "write", "starred" -> "star"); None when it is not one."""
    low = verb.lower()
    if low in _BASES:
        return _BASES[low]
    if not low.endswith("ed") or len(low) < 4:
        return None
    stem = low[:-2]
    if stem.endswith("i") and len(stem) > 2:  # carried -> carry
        return stem[:-1] + "y"
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] in "bdgkmnprt":  # starred
        return stem[:-1]
    if stem.endswith(("c", "v", "z", "u")) or (stem.endswith("s") and not stem.endswith("ss")):
        return stem + "e"  # produced, loved, released, continued
    if stem.endswith("g") and len(stem) > 2 and stem[-2] in "ra":  # managed, charged
        return stem + "e"
    if stem.endswith(("eat", "uat")) and not stem.endswith(_EAT_NO_E):
        return stem + "e"  # created, graduated (treated, repeated keep theirs)
    if (
        len(stem) >= 3
        and stem[-1] in "tkmnrlpdb"
        and stem[-2] in "aou"
        and stem[-3] not in _VOWELS
        and not stem.endswith(("ow", "aw"))
    ):
        return stem + "e"  # created, named, scored, distributed
    if stem.endswith("ir") and len(stem) > 3:  # inspired
        return stem + "e"
    return stem


def participle_of(base: str) -> str:
    """The past participle of a base verb ("release" -> "released", "write" -> "written")."""
    low = base.lower()
    if low in _PARTICIPLES:
        return _PARTICIPLES[low]
    if low.endswith("e"):
        return low + "d"
    if low.endswith("y") and len(low) > 1 and low[-2] not in _VOWELS:
        return low[:-1] + "ied"
    return low + "ed"


def event_participle(noun: str) -> str | None:
    """The participle of the event a "<event> year/date" label times, when the event word
    is also a verb ("release" -> "released", "founding" -> "founded"); else None."""
    low = noun.lower().strip()
    if " " in low or not low.isalpha():
        return None
    if low.endswith("ing") and len(low) > 5:
        stem = low[:-3]
        return participle_of(base_form(stem + "ed") or stem)
    if low in _PARTICIPLES:
        return _PARTICIPLES[low]
    if low.endswith("e") and not low.endswith(("ance", "ence", "ure", "age", "ude")):
        return low + "d"  # release, close, launch-like verbs ending in e
    return None


def agent_noun(base: str) -> str | None:
    """Who does a verb: "direct" -> "director", "write" -> "writer"; None if unsure."""
    low = base.lower()
    if not low.isalpha() or len(low) < 3:
        return None
    if low.endswith("ct") or low.endswith("it"):
        return low + "or"  # director, actor, editor
    if low.endswith("ate"):
        return low[:-1] + "or"  # creator, translator
    if low.endswith("e"):
        return low + "r"  # writer, producer, composer
    if len(low) <= 4 and low[-1] not in _VOWELS and low[-2] in _VOWELS:
        return None  # "star", "win": doubling rules, leave them
    return low + "er"  # founder, owner, publisher


def is_intransitive(base: str | None) -> bool:
    return base is not None and base.lower() in _INTRANSITIVE


def is_person_noun(noun: str | None) -> bool:
    """Whether a noun phrase's head names a person ("starred actors", "author")."""
    if not noun:
        return False
    parts = singular(noun).split()
    if not parts:  # punctuation only ("'")
        return False
    head = parts[-1].lower().strip("()")
    return head in _PERSON_NOUNS or (head.endswith(("ist", "ian")) and len(head) > 5)


def value_kind(labels: list[str]) -> str:
    """ "year", "date", "number" or "thing": what a sample of answer labels are."""
    if not labels:
        return "thing"
    n = len(labels)
    years = sum(bool(_YEAR.match(x)) and 1000 <= abs(int(x)) <= 2200 for x in labels)
    if years >= 0.9 * n:
        return "year"
    if sum(bool(_DATE.match(x)) for x in labels) >= 0.9 * n:
        return "date"
    if sum(bool(_NUMBER.match(x)) for x in labels) >= 0.9 * n:
        return "number"
    return "thing"
