"""What a result carries besides its answer: the facts behind it, and an abstention
(with the store's query agreeing: no answer, 0 or false) when there is nothing to say."""

from __future__ import annotations

import json

import pytest

from kgagent.programs import (
    Chain,
    ClassConstraint,
    EntityConstraint,
    Program,
    ProgramGraph,
    ValueConstraint,
    ValueOf,
    execute,
    read_answer,
    to_sparql,
)
from tests.programs.conftest import C, E, R

SPIELBERG = Chain(E + "spielberg", ((R + "directed_by", True),))
SCORSESE = Chain(E + "scorsese", ((R + "directed_by", True),))
DE_NIRO = EntityConstraint(E + "de_niro", ((R + "starred_actors", False),))


def predicates(facts) -> set[str]:
    return {f.predicate.rsplit("/", 1)[-1].rsplit("#", 1)[-1] for f in facts}


def store(films, program):
    text, bindings = to_sparql(program)
    return read_answer(program, films[0].kg.query(text, bindings=bindings))


def test_the_local_graph_adapter_implements_the_protocol(films):
    assert isinstance(films[1], ProgramGraph)


def test_each_answer_cites_its_chain_and_constraint_facts(films):
    program = Program(
        op="entities",
        chain=SCORSESE,
        constraints=(
            DE_NIRO,
            ValueConstraint(R + "release_year", "<", "1980"),
            ClassConstraint(C + "Work"),
        ),
    )
    result = execute(program, films[1])
    (item,) = result.items
    assert item.label == "Taxi Driver"
    by_id = {f.id: f for f in result.facts}
    cited = [by_id[i] for i in item.facts]
    assert predicates(cited) == {"directed_by", "starred_actors", "release_year", "type"}
    assert all(f.subject == E + "taxi_driver" for f in cited)
    assert json.dumps(result.to_dict())


def test_a_count_cites_the_counted_facts(films):
    result = execute(Program(op="count", chain=SPIELBERG), films[1])
    assert result.number == 5 and len(result.items) == 5
    assert len(result.facts) == 5 and predicates(result.facts) == {"directed_by"}
    assert {f.object for f in result.facts} == {E + "spielberg"}


def test_no_cites_the_facts_that_were_checked(films):
    program = Program(
        op="exists",
        chain=SPIELBERG,
        constraints=(ValueConstraint(R + "release_year", "=", "1993"),),
        target=E + "jaws",
    )
    result = execute(program, films[1])
    assert result.answers == ["no"]
    texts = {(f.subject, f.object) for f in result.facts}
    assert (E + "jaws", E + "spielberg") in texts  # the chain was checked
    assert (E + "jaws", E + "1975") in texts  # and Jaws's year, which is not 1993


def test_superlatives_and_comparisons_cite_the_values_compared(films):
    result = execute(
        Program(op="argmin", chain=SPIELBERG, by=ValueOf(R + "release_year")), films[1]
    )
    assert result.answers == ["Duel"] and result.items[0].key == 1971.0
    years = {f.object for f in result.facts if f.predicate == R + "release_year"}
    assert years == {E + "1975", E + "1993", E + "1982", E + "1971"}
    compared = execute(
        Program(
            op="compare",
            pair=(E + "jaws", E + "ronin"),
            by=ValueOf(R + "released", domain="date"),
            order="<",
        ),
        films[1],
    )
    assert compared.answers == ["yes"]
    assert [i.key for i in compared.items] == [19750620.0, 19980925.0]
    assert {f.object for f in compared.facts} == {"1975-06-20", "1998-09-25"}
    assert all(len(i.facts) == 1 for i in compared.items)


def test_a_value_cites_its_fact(films):
    result = execute(
        Program(op="value", chain=Chain(E + "et", ((R + "released", False),))), films[1]
    )
    assert result.answers == ["1982-06-11T10:00:00Z"]
    (fact,) = result.facts
    assert fact.object_is_literal and result.items[0].facts == (fact.id,)


ABSTAIN = {
    "topic not in the graph": Program(op="count", chain=Chain(E + "nobody", SPIELBERG.hops)),
    "relation not in the graph": Program(
        op="count", chain=Chain(E + "spielberg", ((R + "wrote", True),))
    ),
    "nothing passes": Program(
        op="entities", chain=SPIELBERG, constraints=(ValueConstraint(R + "year", ">", "2020"),)
    ),
    "no values to order": Program(op="argmax", chain=SCORSESE, by=ValueOf(R + "rating")),
    "no dates to order": Program(
        op="argmin", chain=SCORSESE, by=ValueOf(R + "votes", domain="date")
    ),
    "a year that is not a number": Program(
        op="entities",
        chain=Chain(E + "weird", ((R + "release_year", True),)),
        constraints=(ValueConstraint(R + "release_year", "<", "3000"),),
    ),
    "target not in the graph": Program(op="exists", chain=SPIELBERG, target=E + "nobody"),
    "anchor not in the graph": Program(
        op="entities", chain=SPIELBERG, constraints=(EntityConstraint(E + "nobody", DE_NIRO.hops),)
    ),
    "class not in the graph": Program(
        op="count", chain=SPIELBERG, constraints=(ClassConstraint(C + "Opera"),)
    ),
    "compared entity without a value": Program(
        op="compare", pair=(E + "jaws", E + "ronin"), by=ValueOf(R + "rating"), order="<"
    ),
    "no value": Program(op="value", chain=Chain(E + "ronin", ((R + "rating", False),))),
}


@pytest.mark.parametrize("name", list(ABSTAIN))
def test_unanswerable_programs_abstain_and_the_store_finds_nothing(films, name):
    program = ABSTAIN[name]
    result = execute(program, films[1])
    assert result.abstained and result.abstain
    assert result.answers == [] and result.items == () and result.number is None
    assert store(films, program) in (set(), 0, False)


def test_a_count_that_hits_the_walk_cap_abstains(films):
    program = Program(op="count", chain=SPIELBERG)
    result = execute(program, films[1], max_walks=2)
    assert result.truncated and result.abstained and "cap" in result.abstain
    listed = execute(Program(op="entities", chain=SPIELBERG), films[1], max_walks=2)
    assert listed.truncated and not listed.abstained and len(listed.items) == 2


def test_a_comparison_with_one_value_missing_gives_the_other_in_sparql(films):
    """Documented difference: the executor abstains, the query names the entity that has
    a value (it has nothing to compare it with)."""
    program = Program(
        op="compare", pair=(E + "jaws", E + "ronin"), by=ValueOf(R + "rating"), order="min"
    )
    assert execute(program, films[1]).abstained
    assert store(films, program) == {E + "jaws"}
