"""How bench/dialogue.py says its conversations: the words for a dataset's people and
categories, and several paraphrases for each turn a conversation can take.

The relations and their verbs are bench/complex_qa.py's (``Schema``, ``Role``,
``Measure`` in ``bench/_complex_words.py``, imported, not copied); what is added here is
what a conversation needs beyond them: a noun for the people of a role ("that director"),
a film's categories (genre, language), and the phrasings of follow-up turns. Like
complex_qa's, this wording is the benchmark's own, kept apart from ``kgagent/synth`` and
from MetaQA's templates, so a system trained on either is measured on phrasings it has
not seen.

Keys: ``first:<step>`` a question that names its topic (a first turn, or a switch to a
new topic after one of ``SWITCH_OPENERS``); ``ref:<step>`` a reference to the previous
answer (``+`` where that answer is several entities); ``ell:<step>`` the previous
question's topic left unsaid; ``refine:<constraint>`` the previous answers narrowed.

Slots: ``{p}`` a person, ``{f}`` a film, ``{v}`` a constraint's value (a genre, a
language, a year); ``{item}`` / ``{items}`` / ``{Items}`` the noun for films; the words of
the role asked (``{base}``, ``{past}``, ``{perfect}``, ``{by}``, ``{title}`` as in
complex_qa, and the nouns for its people: ``{crew}`` "director", ``{crews}`` "directors",
``{a_crew}`` "a director", ``{crew_n}`` the noun in the number of the answer);
``{crew0}`` / ``{crews0}`` the noun of the role the previous answer's people were found
in ("that director").
"""

from __future__ import annotations

from dataclasses import dataclass

from _complex_words import DEMO, METAQA, Schema

__all__ = ["DEMO_TALK", "METAQA_TALK", "SWITCH_OPENERS", "TALKS", "TURNS", "Crew", "Facet", "Talk"]


@dataclass(frozen=True)
class Crew:
    """The nouns for the people of one role ("director", "directors", "a director")."""

    relation: str
    noun: str
    nouns: str
    a_noun: str


@dataclass(frozen=True)
class Facet:
    """A film's category, with possibly several values (its genres, its languages)."""

    name: str
    relation: str


@dataclass(frozen=True)
class Talk:
    """A schema as a conversation uses it.

    Attributes:
        schema: complex_qa's schema (roles, measures, the year measure).
        crews: a Crew for every role of the schema.
        facets: the film categories asked about and narrowed by.
        measures: the names of the schema's measures asked about (a measure without
            wording here, such as MetaQA's two-valued rating, is left out).
    """

    schema: Schema
    crews: tuple[Crew, ...]
    facets: tuple[Facet, ...]
    measures: tuple[str, ...]

    def crew(self, relation: str) -> Crew:
        return next(c for c in self.crews if c.relation == relation)


METAQA_TALK = Talk(
    schema=METAQA,
    crews=(
        Crew("directed_by", "director", "directors", "a director"),
        Crew("written_by", "writer", "writers", "a writer"),
        Crew("starred_actors", "actor", "actors", "an actor"),
    ),
    facets=(Facet("genre", "has_genre"), Facet("language", "in_language")),
    measures=("release",),
)

_MO = "https://kgagent.dev/ontology/movies#"
DEMO_TALK = Talk(
    schema=DEMO,
    crews=(
        Crew(_MO + "directedBy", "director", "directors", "a director"),
        Crew(_MO + "writtenBy", "writer", "writers", "a writer"),
        Crew(_MO + "starring", "actor", "actors", "an actor"),
        Crew(_MO + "musicBy", "composer", "composers", "a composer"),
    ),
    facets=(Facet("genre", _MO + "hasGenre"), Facet("language", _MO + "inLanguage")),
    measures=("release", "runtime", "birth"),
)

TALKS = {"metaqa": METAQA_TALK, "demo": DEMO_TALK}

#: what a switch to a new topic may begin with ("" twice: most switches just ask)
SWITCH_OPENERS = ("", "", "Now, ", "OK, ", "Next: ", "Another one: ")

#: paraphrases by turn key; each turn draws one
TURNS: dict[str, tuple[str, ...]] = {
    # -- a question that names its topic (first turns, switches) --------------------------
    "first:films": (
        "Which {items} did {p} {base}?",
        "What {items} has {p} {perfect}?",
        "List the {items} {by} {p}.",
        "Name the {items} that {p} {past}.",
    ),
    "first:people": (
        "Who {past} {f}?",
        "Who was {title} of {f}?",
        "Tell me who {past} {f}.",
        "Which people {past} {f}?",
    ),
    "first:value:release": (
        "When was {f} released?",
        "What year did {f} come out?",
        "{f} was released in what year?",
    ),
    "first:value:runtime": ("How many minutes long is {f}?", "What is the runtime of {f}?"),
    "first:value:birth": ("When was {p} born?", "In what year was {p} born?"),
    "first:facet:genre": (
        "What genre is {f}?",
        "What kind of {item} is {f}?",
        "{f} belongs to which genre?",
    ),
    "first:facet:language": (
        "What language is {f} in?",
        "In which language was {f} made?",
        "{f} is in what language?",
    ),
    # -- a reference to the previous answer ------------------------------------------------
    "ref:else": (  # one person, the role they were found in, the film asked about left out
        "What else did they {base}?",
        "What else did that {crew0} {base}?",
        "Which other {items} did this {crew0} {base}?",
        "Any other {items} they {past}?",
    ),
    "ref:films": (  # one person, another role
        "And which {items} did they {base}?",
        "What did that {crew0} {base}?",
        "List the {items} this {crew0} {past}.",
        "And what has that {crew0} {perfect}?",
    ),
    "ref:films+": (  # several people: the films of any of them
        "Which {items} did they {base}?",
        "What did those {crews0} {base}?",
        "List the {items} any of them {past}.",
        "Which {items} have these {crews0} {perfect}?",
    ),
    "ref:people": (
        "Who {past} it?",
        "Who {past} that {item}?",
        "And who was {title} of this {item}?",
        "Tell me who {past} that one.",
    ),
    "ref:people+": (
        "Who {past} them?",
        "Who {past} those {items}?",
        "Name the {crews} of these {items}.",
        "Which people {past} any of them?",
    ),
    "ref:value:release": (
        "When was it released?",
        "What year did that {item} come out?",
        "When did this {item} hit theaters?",
    ),
    "ref:value:release+": (
        "When were they released?",
        "What years did those {items} come out?",
        "In which years were these {items} released?",
    ),
    "ref:value:runtime": ("How long is it?", "What is the runtime of that {item}?"),
    "ref:value:runtime+": ("How long are they?", "What are the runtimes of those {items}?"),
    "ref:value:birth": (
        "When was that {crew0} born?",
        "What year was this {crew0} born?",
        "What is their year of birth?",
    ),
    "ref:value:birth+": ("When were they born?", "What are the birth years of those {crews0}?"),
    "ref:facet:genre": (
        "What genre is it?",
        "What kind of {item} is that?",
        "Which genre does this {item} belong to?",
    ),
    "ref:facet:genre+": ("What genres are they?", "Which genres do those {items} belong to?"),
    "ref:facet:language": ("What language is it in?", "In which language was that {item} made?"),
    "ref:facet:language+": (
        "What languages are they in?",
        "In which languages were those {items} made?",
    ),
    # -- the previous question's topic left unsaid -----------------------------------------
    "ell:people": (
        "And who {past} it?",
        "What about the {crew_n}?",
        "and its {crew_n}?",
        "Who {past} it, then?",
    ),
    "ell:films": (
        "and the {items} they {past}?",
        "And which did they {base}?",
        "What about the ones they {past}?",
    ),
    "ell:films:as": ("And as {a_crew}?", "What about as {a_crew}?"),  # after a role question
    "ell:value:release": (
        "and the release year?",
        "And when did it come out?",
        "what about its release year?",
        "And what year was it released?",
    ),
    "ell:value:runtime": (
        "and the runtime?",
        "And how long is it?",
        "what about its running time?",
    ),
    "ell:value:birth": ("and their birth year?", "And when were they born?"),
    "ell:facet:genre": (
        "what about its genre?",
        "and the genre?",
        "And what kind of {item} is it?",
    ),
    "ell:facet:language": (
        "and the language?",
        "What about its language?",
        "And what language is it in?",
    ),
    # -- the previous answers narrowed -------------------------------------------------------
    "refine:crew": (
        "Which of those did {p} {base}?",
        "And of them, which ones did {p} {base}?",
        "Just the ones {p} {past}, please.",
        "Narrow that to the {items} {by} {p}.",
    ),
    "refine:facet:genre": (
        "And of them, which are {v} {items}?",
        "Which of those are in the {v} genre?",
        "Only the {v} ones?",
        "Keep just the {v} {items}.",
    ),
    "refine:facet:language": (
        "Which of those are in {v}?",
        "And of them, which ones are in {v}?",
        "Only the {v}-language ones?",
    ),
    "refine:value:release": (
        "Which of them came out in {v}?",
        "And of those, which are from {v}?",
        "Only the ones released in {v}?",
    ),
}
