"""Values from a question reach the store only as bindings; IRIs only after checking."""

from __future__ import annotations

import pytest

from kgagent.programs import Chain, Program, ProgramError, ValueConstraint, execute, to_sparql
from kgagent.programs.sparql import read_answer
from kgagent.programs.values import parse_value
from tests.programs.conftest import E, R

SPIELBERG = Chain(E + "spielberg", ((R + "directed_by", True),))
HOSTILE = '19"93 } .'  # the language of Duel, and the label of a year entity


def test_a_hostile_text_value_stays_a_binding_and_matches_exactly(films):
    agent, graph = films
    program = Program(
        op="entities",
        chain=SPIELBERG,
        constraints=(ValueConstraint(R + "language", "=", HOSTILE),),
    )
    text, bindings = to_sparql(program)
    assert HOSTILE not in text and '19"93' not in text and bindings == {"value1": HOSTILE}
    assert read_answer(program, agent.kg.query(text, bindings=bindings)) == {E + "duel"}
    assert execute(program, graph).answers == ["Duel"]


@pytest.mark.parametrize("value", ["1993", "1993-06-11", "7.25", "-0044"])
def test_numbers_and_dates_from_the_question_are_never_in_the_query_text(value):
    program = Program(
        op="count", chain=SPIELBERG, constraints=(ValueConstraint(R + "released", ">=", value),)
    )
    text, bindings = to_sparql(program)
    digits = value.lstrip("-").split("-")[0].split(".")[0]
    assert digits not in text
    (bound,) = bindings.values()
    assert float(bound) == parse_value(value)[1]  # the key the executor compares


@pytest.mark.parametrize(
    "value", ['1993" } ; DROP ALL ; {', "1993 }", "1993\n}", "19{93}", "<http://x>"]
)
def test_a_hostile_value_cannot_be_ordered(value):
    with pytest.raises(ProgramError, match="value"):
        ValueConstraint(R + "year", "<", value)


@pytest.mark.parametrize(
    "iri",
    [E + "x> } ; DROP ALL ; { <y", E + "a b", E + 'a"b', E + "a{b}", E + "a\\u0020", "nocolon"],
)
def test_iris_that_could_break_out_are_refused(iri):
    with pytest.raises(ProgramError, match="IRI"):
        Program(op="count", chain=Chain(iri, SPIELBERG.hops))
    with pytest.raises(ProgramError, match="IRI"):
        Program(op="count", chain=Chain(E + "x", ((iri, False),)))


def test_iris_with_unusual_local_names_are_written_whole():
    odd = E + "Schindler's_List_(1993)"
    text, _ = to_sparql(Program(op="exists", chain=SPIELBERG, target=odd))
    assert f"<{odd}>" in text
