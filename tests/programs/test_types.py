"""Programs are checked on construction (the field named) and round-trip through JSON."""

from __future__ import annotations

import json

import pytest

from kgagent.errors import KGAgentError
from kgagent.programs import (
    Chain,
    ClassConstraint,
    EntityConstraint,
    Program,
    ProgramError,
    ValueConstraint,
    ValueOf,
)

E, R = "http://example.org/ent/", "http://example.org/rel/"
CHAIN = Chain(E + "spielberg", ((R + "directed_by", True),))


def test_every_kind_of_program_round_trips_through_json():
    programs = [
        Program(op="entities", chain=CHAIN),
        Program(
            op="count",
            chain=CHAIN,
            constraints=(
                EntityConstraint(E + "x", ((R + "a", False), (R + "b", True))),
                ValueConstraint(R + "year", ">=", "1993"),
                ValueConstraint(R + "lang", "=", "English", inverse=False),
                ClassConstraint("http://example.org/class/Film", subclasses=False),
            ),
        ),
        Program(op="exists", chain=CHAIN, target=E + "jaws"),
        Program(op="exists", chain=CHAIN),
        Program(op="argmax", chain=CHAIN, by=ValueOf(R + "released", domain="date")),
        Program(op="argmin", chain=CHAIN, by=ValueOf(R + "year")),
        Program(op="compare", pair=(E + "a", E + "b"), by=ValueOf(R + "year"), order="<"),
        Program(op="compare", pair=(E + "a", E + "b"), by=ValueOf(R + "year"), order="max"),
        Program(op="value", chain=CHAIN),
    ]
    for p in programs:
        again = Program.from_dict(json.loads(json.dumps(p.to_dict())))
        assert again == p and hash(again) == hash(p)
    kinds = [p.kind for p in programs]
    assert kinds == [
        "entities",
        "number",
        "boolean",
        "boolean",
        "entities",
        "entities",
        "boolean",
        "entities",
        "value",
    ]


def test_numbers_are_accepted_as_values_and_kept_as_text():
    assert ValueConstraint(R + "year", "<", 1993).value == "1993"
    assert ValueConstraint(R + "rating", ">", 7.5).domain == "number"
    assert ValueConstraint(R + "released", "<", "1994-05-01").domain == "date"
    assert ValueConstraint(R + "lang", "=", "English").domain == "text"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Chain("not an iri", ((R + "a", False),)), "chain.topic"),
        (lambda: Chain(E + "x> } DROP ALL {", ((R + "a", False),)), "chain.topic"),
        (lambda: Chain(E + "x", ()), "chain.hops"),
        (lambda: Chain(E + "x", ((R + "a", "yes"),)), "chain.hops[0].inverse"),
        (lambda: Chain(E + "x", ((R + "a b", False),)), "chain.hops[0].relation"),
        (lambda: Chain(E + "x", ((R + "a", False),) * 5), "chain.hops"),
        (lambda: EntityConstraint(E + "x", ((R + "a", False),) * 4), "hops"),
        (lambda: ValueConstraint(R + "y", "!=", "1993"), "op"),
        (lambda: ValueConstraint(R + "y", "<", 'x" } ;'), "value"),
        (lambda: ValueConstraint(R + "y", "=", ""), "value"),
        (lambda: ValueConstraint(R + "y", "=", "x" * 201), "value"),
        (lambda: ValueConstraint(R + "y", "=", True), "value"),
        (lambda: ValueOf(R + "y", domain="string"), "by.domain"),
        (lambda: ClassConstraint("Film"), "cls"),
        (lambda: Program(op="sum", chain=CHAIN), "op"),
        (lambda: Program(op="count"), "chain"),
        (lambda: Program(op="argmax", chain=CHAIN), "by"),
        (lambda: Program(op="count", chain=CHAIN, target=E + "x"), "target"),
        (lambda: Program(op="exists", chain=CHAIN, target="<x>"), "target"),
        (
            lambda: Program(op="compare", pair=(E + "a", E + "a"), by=ValueOf(R + "y"), order="<"),
            "pair",
        ),
        (
            lambda: Program(op="compare", pair=(E + "a", E + "b"), by=ValueOf(R + "y"), order="<="),
            "order",
        ),
        (
            lambda: Program(
                op="compare", chain=CHAIN, pair=(E + "a", E + "b"), by=ValueOf(R + "y"), order="<"
            ),
            "chain",
        ),
        (
            lambda: Program(op="value", chain=CHAIN, constraints=(ClassConstraint(E + "C"),)),
            "constraints",
        ),
        (lambda: Program(op="entities", chain=CHAIN, constraints=("x",)), "constraints[0]"),
    ],
)
def test_a_malformed_program_is_refused_naming_the_field(build, field):
    with pytest.raises(ProgramError) as exc:
        build()
    assert str(exc.value).startswith(f"{field}:"), str(exc.value)
    assert isinstance(exc.value, KGAgentError)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "program"),
        (
            {"op": "count", "chain": {"topic": E + "x", "hops": [{"relation": "bad iri"}]}},
            "program.chain.hops[0].relation",
        ),
        (
            {"op": "count", "chain": {"topic": E + "x", "hops": [[R + "a", False]]}, "extra": 1},
            "program.extra",
        ),
        (
            {"op": "count", "chain": CHAIN.to_dict(), "constraints": [{"kind": "nope"}]},
            "program.constraints[0].kind",
        ),
        (
            {
                "op": "count",
                "chain": CHAIN.to_dict(),
                "constraints": [{"kind": "value", "relation": R + "y", "op": "<", "value": "a"}],
            },
            "program.constraints[0].value",
        ),
        (
            {
                "op": "count",
                "chain": CHAIN.to_dict(),
                "constraints": [{"kind": "class", "cls": E + "C", "colour": "red"}],
            },
            "program.constraints[0].colour",
        ),
        (
            {"op": "argmax", "chain": CHAIN.to_dict(), "by": {"relation": R + "y", "domain": "x"}},
            "program.by.domain",
        ),
        (
            {"op": "compare", "pair": [E + "a"], "by": {"relation": R + "y"}, "order": "<"},
            "program.pair",
        ),
    ],
)
def test_from_dict_names_the_bad_field(data, field):
    with pytest.raises(ProgramError) as exc:
        Program.from_dict(data)
    assert str(exc.value).startswith(f"{field}:"), str(exc.value)
