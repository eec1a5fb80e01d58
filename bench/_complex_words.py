"""How bench/complex_qa.py says its questions: a dataset's relations in English, and
several paraphrases per question type.

This wording is the benchmark's own: it is kept apart from the question synthesis of
``kgagent/synth`` (forms.py, phrasing.py) and from the wording of MetaQA's questions, so
that a system trained on either is measured on phrasings it has not seen. It lives in
bench/, never in kgagent/: "directed_by" -> "direct" is knowledge of one dataset.

Slots: ``{p}`` a person, ``{f}`` a film, ``{a}`` / ``{b}`` two films, ``{y}`` a year,
``{item}`` / ``{items}`` / ``{Items}`` the noun for films, and a role's words
(``{base}`` "direct", ``{past}`` "directed", ``{perfect}`` "directed", ``{by}`` "directed
by", ``{title}`` "the director"; ``{base2}``, ``{past2}``... for a second role).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEMO",
    "DEMO_ITEM_CLASS",
    "METAQA",
    "WORDING",
    "Measure",
    "Role",
    "Schema",
    "fill",
    "role_fields",
]


@dataclass(frozen=True)
class Role:
    """A relation from a film to the people who made it, with the words that say it."""

    relation: str
    base: str  # did X {base} Y
    past: str  # X {past} Y
    perfect: str  # has X {perfect} Y
    by: str  # the films {by} X
    title: str  # was X {title} of ...


@dataclass(frozen=True)
class Measure:
    """A single-valued relation: a year, a number, or a category (MetaQA's ratings).

    ``name`` selects the wording (``WORDING["value:" + name]`` ...); ``ordered`` values
    are numbers, asked about in superlatives, comparisons and order questions;
    ``of_people`` measures belong to people (a birth year), not to films.
    """

    name: str
    relation: str
    ordered: bool
    of_people: bool = False


@dataclass(frozen=True)
class Schema:
    """What a dataset's questions are about, and how its relations read."""

    name: str
    roles: tuple[Role, ...]
    measures: tuple[Measure, ...]
    pairs: tuple[tuple[str, str], ...]  # role relations asked together (two constraints)
    year: str  # the measure of a value constraint ("films X directed in 1993")
    nouns: tuple[str, ...] = ("film", "movie")


METAQA = Schema(
    name="metaqa",
    roles=(
        Role("directed_by", "direct", "directed", "directed", "directed by", "the director"),
        Role("written_by", "write", "wrote", "written", "written by", "a writer"),
        Role("starred_actors", "star in", "starred in", "starred in", "starring", "a cast member"),
    ),
    measures=(
        Measure("release", "release_year", ordered=True),
        Measure("rating", "has_imdb_rating", ordered=False),
    ),
    pairs=(
        ("directed_by", "starred_actors"),
        ("written_by", "starred_actors"),
        ("directed_by", "written_by"),
    ),
    year="release",
)

_MO = "https://kgagent.dev/ontology/movies#"
DEMO = Schema(
    name="demo",
    roles=(
        Role(_MO + "directedBy", "direct", "directed", "directed", "directed by", "the director"),
        Role(_MO + "writtenBy", "write", "wrote", "written", "written by", "a writer"),
        Role(_MO + "starring", "star in", "starred in", "starred in", "starring", "a cast member"),
        Role(_MO + "musicBy", "score", "scored", "scored", "scored by", "the composer"),
    ),
    measures=(
        Measure("release", _MO + "releaseYear", ordered=True),
        Measure("runtime", _MO + "runtimeMinutes", ordered=True),
        Measure("birth", _MO + "birthYear", ordered=False, of_people=True),
    ),
    pairs=(
        (_MO + "directedBy", _MO + "starring"),
        (_MO + "writtenBy", _MO + "starring"),
        (_MO + "directedBy", _MO + "musicBy"),
    ),
    year="release",
)
#: the class of a demo film (read_rdf's item_class)
DEMO_ITEM_CLASS = _MO + "Film"

#: paraphrases by question type (and measure, and direction); each question draws one
WORDING: dict[str, tuple[str, ...]] = {
    "count": (
        "What is the number of {items} {p} {past}?",
        "How many {items} has {p} {perfect}?",
        "Count the {items} {by} {p}.",
        "{p} {past} how many {items}?",
        "In how many {items} was {p} {title}?",
    ),
    "member": (
        "Is it true that {p} {past} {f}?",
        "Was {f} one of the {items} {by} {p}?",
        "Is {f} among the {items} that {p} {past}?",
        "Has {p} ever {perfect} {f}?",
    ),
    "order:release:<": (
        "Did {a} come out before {b}?",
        "Is {a} an older {item} than {b}?",
    ),
    "order:release:>": (
        "Did {a} reach theaters after {b}?",
        "Is {a} more recent than {b}?",
    ),
    "order:runtime:<": (
        "Is {a} shorter than {b}?",
        "Does {a} have a shorter running time than {b}?",
    ),
    "order:runtime:>": ("Does {a} run longer than {b}?", "Is {a} a longer {item} than {b}?"),
    "two_constraints": (
        "What {items} {by} {p} did {p2} {base2}?",
        "On which {items} was {p} {title} and {p2} {title2}?",
        "Pick out the {items} that {p} {past} and {p2} {past2}.",
        "{Items} {by} {p} and {by2} {p2}?",
    ),
    "value_constraint": (
        "What {items} from {y} did {p} {base}?",
        "{Items} {by} {p} that came out in {y}?",
        "Which of the {items} {by} {p} date from {y}?",
        "Which {y} {items} did {p} {base}?",
    ),
    "superlative:release:min": (
        "Which was the first {item} {p} {past}?",
        "Of all the {items} {by} {p}, which came out earliest?",
        "What is the oldest {item} {by} {p}?",
    ),
    "superlative:release:max": (
        "What was the last {item} {p} {past}?",
        "Of all the {items} {by} {p}, which is the newest?",
        "Which {item} {by} {p} came out most recently?",
    ),
    "superlative:runtime:max": (
        "What is the longest {item} {by} {p}?",
        "Of the {items} {p} {past}, which runs the longest?",
    ),
    "superlative:runtime:min": (
        "What is the shortest {item} {by} {p}?",
        "Of the {items} {p} {past}, which has the shortest running time?",
    ),
    "comparison:release:min": (
        "Which came out first: {a} or {b}?",
        "Between {a} and {b}, which is older?",
        "{a} or {b}: which one reached theaters earlier?",
    ),
    "comparison:release:max": (
        "Which is newer, {a} or {b}?",
        "Of {a} and {b}, which came out later?",
    ),
    "comparison:runtime:max": (
        "Which is longer, {a} or {b}?",
        "Between {a} and {b}, which runs longer?",
    ),
    "comparison:runtime:min": (
        "Which is shorter, {a} or {b}?",
        "{a} or {b}: which has the shorter running time?",
    ),
    "value:release": (
        "In what year did {f} come out?",
        "{f} came out in which year?",
        "When did {f} hit theaters?",
        "What year is the {item} {f} from?",
    ),
    "value:rating": (
        "How is {f} rated on IMDb?",
        "What's {f}'s rating on IMDb?",
        "{f} is rated what on IMDb?",
    ),
    "value:runtime": (
        "How long does {f} run?",
        "What is the running time of {f}, in minutes?",
        "{f} runs for how many minutes?",
    ),
    "value:birth": (
        "{p} was born in which year?",
        "What is the year of {p}'s birth?",
    ),
}


def role_fields(role: Role, suffix: str = "") -> dict[str, str]:
    """A role's words as template fields (``suffix`` "2" for the second role)."""
    return {
        f"base{suffix}": role.base,
        f"past{suffix}": role.past,
        f"perfect{suffix}": role.perfect,
        f"by{suffix}": role.by,
        f"title{suffix}": role.title,
    }


def fill(template: str, noun: str, **fields: str) -> str:
    """A template with its slots filled; ``{Items}`` is the capitalized plural."""
    items = noun + "s"
    return template.format(item=noun, items=items, Items=items.capitalize(), **fields)
