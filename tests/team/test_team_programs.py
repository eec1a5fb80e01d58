"""Typed questions across a team: programs over the members' graphs federated — counts,
yes/no, superlatives and comparisons whose chain is in one member's graph and whose
values are in another's, citing each member's facts."""

from __future__ import annotations

from kgagent.team import Team

NOLAN, CAMERON = "Christopher Nolan", "James Cameron"


def test_typed_questions_cross_the_members_graphs(members):
    with Team(agents=[members["people"], members["films"]]) as team:
        count = team.ask(f"How many films did {NOLAN} direct?")
        assert (count.kind, count.labels) == ("number", ["2"])
        assert {f.agent for f in count.facts} == {"people"}
        yes = team.ask(f"Did {CAMERON} direct Avatar?")
        assert (yes.kind, yes.labels) == ("boolean", ["yes"])
        # directed_by is the people graph's, release_year the films graph's
        first = team.ask(f"What is the earliest film directed by {CAMERON}?")
        assert first.labels == ["Titanic"]
        assert {f.agent for f in first.facts} == {"people", "films"}
        which = team.ask("Which was released first, Interstellar or Titanic?")
        assert which.labels == ["Titanic"]
        assert "1997" in which.text
        chain = team.ask(f"which films did {NOLAN} direct")
        assert chain.kind == "entities" and chain.sparql is None
        assert sorted(chain.labels) == ["Inception", "Interstellar"]


def test_a_team_reads_typed_questions_as_chains_when_programs_are_off(members):
    settings = {"programs": False}
    with Team(agents=[members["people"], members["films"]], settings=settings) as team:
        a = team.ask(f"How many films did {NOLAN} direct?")
    assert a.kind == "entities" and a.sparql is None
