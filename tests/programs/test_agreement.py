"""Every program type, executed on the graph's arrays and compiled to SPARQL on the
store: both must give the hand-computed answer (issue 20: "a test runs both on every
program type")."""

from __future__ import annotations

import pytest
from rdflib import Literal

from kgagent.programs import (
    Chain,
    ClassConstraint,
    EntityConstraint,
    Program,
    ValueConstraint,
    ValueOf,
    execute,
    read_answer,
    to_sparql,
)
from tests.programs.conftest import C, E, R

SPIELBERG_FILMS = Chain(E + "spielberg", ((R + "directed_by", True),))
SCORSESE_FILMS = Chain(E + "scorsese", ((R + "directed_by", True),))
ALL_FIVE = {"jaws", "jurassic_park", "schindlers_list", "et", "duel"}


def films_of(chain: Chain, *constraints, op: str = "entities", **kw) -> Program:
    return Program(op=op, chain=chain, constraints=tuple(constraints), **kw)


def year(op: str, value: str, relation: str = "release_year") -> ValueConstraint:
    return ValueConstraint(R + relation, op, value)


def by(relation: str, domain: str = "number") -> ValueOf:
    return ValueOf(R + relation, domain=domain)


def compare(a: str, b: str, order: str, relation="release_year", domain="number"):
    return Program(op="compare", pair=(E + a, E + b), by=by(relation, domain), order=order)


def executor_answer(result):
    """The executor's answer in :func:`read_answer`'s form."""
    if result.kind == "number":
        return result.number
    if result.kind == "boolean":
        return result.boolean
    # a literal as rdflib normalizes it, as read_answer gives it ("9" and "9.0" are one double)
    return {
        str(Literal(i.value, datatype=i.datatype)) if i.literal else i.value for i in result.items
    }


def both(films, program):
    """(executor result, store answer), after checking that they agree."""
    agent, graph = films
    result = execute(program, graph)
    text, bindings = to_sparql(program)
    store = read_answer(program, agent.kg.query(text, bindings=bindings))
    assert not result.abstained, result.abstain
    assert store == executor_answer(result), text
    return result, store


CASES = {
    # entities: one chain
    "chain": (films_of(SPIELBERG_FILMS), ALL_FIVE),
    "two hops": (
        films_of(Chain(E + "de_niro", ((R + "starred_actors", True), (R + "directed_by", False)))),
        {"scorsese", "frankenheimer"},
    ),
    "a walk never revisits its topic": (
        films_of(
            Chain(E + "taxi_driver", ((R + "starred_actors", False), (R + "starred_actors", True)))
        ),
        {"goodfellas", "ronin"},
    ),
    # entity constraints
    "entity constraint": (
        films_of(SCORSESE_FILMS, EntityConstraint(E + "de_niro", ((R + "starred_actors", False),))),
        {"taxi_driver", "goodfellas"},
    ),
    "two-hop entity constraint": (
        films_of(
            Chain(E + "de_niro", ((R + "starred_actors", True),)),
            EntityConstraint(
                E + "goodfellas", ((R + "starred_actors", False), (R + "starred_actors", True))
            ),
        ),
        {"taxi_driver", "ronin"},  # share an actor with Goodfellas, which is not an answer
    ),
    # value constraints on years that are entities (one without a label: its local name)
    "year = (entity)": (
        films_of(SPIELBERG_FILMS, year("=", "1993")),
        {"jurassic_park", "schindlers_list"},
    ),
    "year < (entity)": (films_of(SPIELBERG_FILMS, year("<", "1982")), {"jaws", "duel"}),
    "year <= (entity)": (films_of(SPIELBERG_FILMS, year("<=", "1982")), {"jaws", "duel", "et"}),
    "year > (entity)": (
        films_of(SPIELBERG_FILMS, year(">", "1982")),
        {"jurassic_park", "schindlers_list"},
    ),
    "year >= (entity)": (
        films_of(SPIELBERG_FILMS, year(">=", "1982")),
        {"jurassic_park", "schindlers_list", "et"},
    ),
    "year = (gYear)": (
        films_of(SPIELBERG_FILMS, year("=", "1993", "year")),
        {"jurassic_park", "schindlers_list"},
    ),
    "year < (gYear)": (films_of(SPIELBERG_FILMS, year("<", "1980", "year")), {"jaws"}),
    "year of a date": (
        films_of(SPIELBERG_FILMS, year("=", "1993", "released")),
        {"jurassic_park", "schindlers_list"},
    ),
    "date < (date and dateTime)": (
        films_of(SPIELBERG_FILMS, year("<", "1993-07-01", "released")),
        {"jaws", "jurassic_park", "et"},
    ),
    "date =": (films_of(SPIELBERG_FILMS, year("=", "1993-11-30", "released")), {"schindlers_list"}),
    "date >=": (
        films_of(SPIELBERG_FILMS, year(">=", "1993-06-11", "released")),
        {"jurassic_park", "schindlers_list"},
    ),
    "number > (decimal, double, string)": (
        films_of(SPIELBERG_FILMS, year(">", "8", "rating")),
        {"jaws", "jurassic_park", "schindlers_list"},
    ),
    "number <= (plain string)": (films_of(SPIELBERG_FILMS, year("<=", "7.9", "rating")), {"et"}),
    "integer >=": (films_of(SPIELBERG_FILMS, year(">=", "1e6", "votes")), {"jurassic_park"}),
    "text = (any language)": (
        films_of(SPIELBERG_FILMS, year("=", "English", "language")),
        {"jaws", "jurassic_park"},
    ),
    # class constraints
    "class with subclasses": (films_of(SPIELBERG_FILMS, ClassConstraint(C + "Film")), ALL_FIVE),
    "class without subclasses": (
        films_of(SPIELBERG_FILMS, ClassConstraint(C + "Film", subclasses=False)),
        ALL_FIVE - {"duel"},
    ),
    "superclass, an untyped film": (
        films_of(SCORSESE_FILMS, ClassConstraint(C + "Work")),
        {"taxi_driver", "goodfellas"},
    ),
    "two constraints intersected": (
        films_of(SPIELBERG_FILMS, ClassConstraint(C + "Film", subclasses=False), year("<", "1990")),
        {"jaws", "et"},
    ),
    # superlatives (ties all answer)
    "argmax, tied": (
        films_of(SPIELBERG_FILMS, op="argmax", by=by("release_year")),
        {"jurassic_park", "schindlers_list"},
    ),
    "argmin, unlabelled year": (
        films_of(SPIELBERG_FILMS, op="argmin", by=by("release_year")),
        {"duel"},
    ),
    "argmax date": (
        films_of(SPIELBERG_FILMS, op="argmax", by=by("released", "date")),
        {"schindlers_list"},
    ),
    "argmin date": (films_of(SPIELBERG_FILMS, op="argmin", by=by("released", "date")), {"jaws"}),
    "argmax year of dates, tied": (
        films_of(SPIELBERG_FILMS, op="argmax", by=by("released")),
        {"jurassic_park", "schindlers_list"},
    ),
    "argmax number": (films_of(SPIELBERG_FILMS, op="argmax", by=by("rating")), {"schindlers_list"}),
    "argmin number": (films_of(SPIELBERG_FILMS, op="argmin", by=by("rating")), {"et"}),
    "argmin under a constraint": (
        films_of(SPIELBERG_FILMS, year(">", "8", "rating"), op="argmin", by=by("release_year")),
        {"jaws"},
    ),
    "argmax under a date constraint": (
        films_of(
            SPIELBERG_FILMS,
            year("<", "1993-07-01", "released"),
            op="argmax",
            by=by("released", "date"),
        ),
        {"jurassic_park"},
    ),
    # comparisons
    "compare min": (compare("jaws", "ronin", "min"), {"jaws"}),
    "compare max": (compare("jaws", "ronin", "max"), {"ronin"}),
    "compare min, tied": (
        compare("jurassic_park", "schindlers_list", "min"),
        {"jurassic_park", "schindlers_list"},
    ),
    "compare dates max": (
        compare("jurassic_park", "schindlers_list", "max", "released", "date"),
        {"schindlers_list"},
    ),
    "compare <": (compare("jaws", "ronin", "<"), True),
    "compare >": (compare("jaws", "ronin", ">"), False),
    "compare dates <": (compare("ronin", "taxi_driver", "<", "released", "date"), False),
    "compare gYear >": (compare("jurassic_park", "jaws", ">", "year"), True),
    # counts and yes/no
    "count": (films_of(SPIELBERG_FILMS, op="count"), 5),
    "count under a constraint": (films_of(SPIELBERG_FILMS, year(">=", "1982"), op="count"), 3),
    "count of none that pass": (films_of(SPIELBERG_FILMS, year(">", "2020"), op="count"), 0),
    "exists: yes": (films_of(SPIELBERG_FILMS, op="exists", target=E + "jaws"), True),
    "exists: no": (films_of(SPIELBERG_FILMS, op="exists", target=E + "goodfellas"), False),
    "exists: filtered out": (
        films_of(SPIELBERG_FILMS, year("=", "1993"), op="exists", target=E + "jaws"),
        False,
    ),
    "exists, no target: yes": (films_of(SPIELBERG_FILMS, year("=", "1993"), op="exists"), True),
    "exists, no target: no": (films_of(SPIELBERG_FILMS, year(">", "2020"), op="exists"), False),
}
VALUES = {
    "a date": (Chain(E + "jaws", ((R + "released", False),)), {"1975-06-20"}),
    "an entity year": (Chain(E + "jaws", ((R + "release_year", False),)), {E + "1975"}),
    "entity years over two hops": (
        Chain(E + "spielberg", ((R + "directed_by", True), (R + "release_year", False))),
        {E + "1975", E + "1993", E + "1982", E + "1971"},
    ),
    "literals over two hops": (
        Chain(E + "spielberg", ((R + "directed_by", True), (R + "votes", False))),
        {"600000", "1000000"},
    ),
    "literals of several types": (
        Chain(E + "spielberg", ((R + "directed_by", True), (R + "rating", False))),
        {"8.1", "8.2", "9.0", "7.9", "n/a"},
    ),
    "an entity that is not on the walk": (
        Chain(E + "goodfellas", ((R + "directed_by", False), (R + "directed_by", True))),
        {E + "taxi_driver", E + "the_departed"},
    ),
    "inverse": (
        Chain(E + "de_niro", ((R + "starred_actors", True),)),
        {E + "taxi_driver", E + "goodfellas", E + "ronin"},
    ),
}


def _expected(program: Program, want):
    if program.kind == "entities":
        return {E + x for x in want}
    return want


@pytest.mark.parametrize("name", list(CASES))
def test_executor_and_sparql_agree_on_the_expected_answer(films, name):
    program, want = CASES[name]
    result, _ = both(films, program)
    assert executor_answer(result) == _expected(program, want)
    assert result.kind == program.kind
    assert Program.from_dict(program.to_dict()) == program


@pytest.mark.parametrize("name", list(VALUES))
def test_values_agree(films, name):
    chain, want = VALUES[name]
    result, _ = both(films, Program(op="value", chain=chain))
    assert result.kind == "value"
    assert executor_answer(result) == want


def test_answers_are_typed_as_the_issue_writes_them(films):
    _, graph = films
    count = execute(CASES["count"][0], graph)
    assert count.answers == ["5"] and count.number == 5
    assert execute(CASES["exists: no"][0], graph).answers == ["no"]
    assert execute(CASES["compare <"][0], graph).answers == ["yes"]
    assert execute(CASES["argmin date"][0], graph).answers == ["Jaws"]
    value = execute(Program(op="value", chain=VALUES["a date"][0]), graph)
    assert value.answers == ["1975-06-20"] and value.items[0].literal
    year = execute(Program(op="value", chain=VALUES["an entity year"][0]), graph)
    assert year.answers == ["1975"] and not year.items[0].literal


def test_entities_come_best_first_in_walk_order(films):
    _, graph = films
    result = execute(films_of(SPIELBERG_FILMS), graph)
    again = execute(films_of(SPIELBERG_FILMS), graph)
    assert [i.value for i in result.items] == [i.value for i in again.items]
    assert result.total == 5 and len(result.items) == 5
    capped = execute(films_of(SPIELBERG_FILMS), graph, max_items=2)
    assert (
        capped.total == 5 and [i.value for i in capped.items] == [i.value for i in result.items][:2]
    )
