"""The pytest plugin as a user meets it: a test file of theirs run by pytest in-process
(``pytester``), against the bundled demo ontology and against a file of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _imported_before_the_inner_runs(kg_workspace, kg_encoder, kg_llm):
    """Asks once here first: pytester's in-process runs drop the modules they import
    when they end, and a C extension (numpy) cannot be imported again in one process,
    so what the inner runs import must already be imported by this, the outer run."""
    from kgagent.agents import Agent

    with Agent.open(kg_workspace, encoder=kg_encoder) as agent:
        agent.llm = kg_llm
        agent.ask_batch(["Who directed Inception?", "How many films did Christopher Nolan direct?"])


USERS_TESTS = """
from kgagent.testing import assert_abstains, assert_cites, assert_grounded


def test_answers_are_grounded_and_cite_their_facts(kg_agent):
    answer = kg_agent.ask("Who directed Inception?")
    assert answer.labels == ["Christopher Nolan"]
    assert_grounded(answer)
    assert_cites(answer, ("Inception", "directed by", "Christopher Nolan"))


def test_typed_and_multi_hop_answers_are_grounded(kg_agent):
    for question in [
        "How many films did Christopher Nolan direct?",
        "Did Denis Villeneuve direct Inception?",
        "When was Interstellar released?",
        "Which genres do the films directed by Denis Villeneuve have?",
    ]:
        assert_grounded(kg_agent.ask(question))


def test_the_agent_abstains_off_the_graph(kg_agent):
    assert_abstains(kg_agent.ask("What is the capital of Mongolia?"))
"""

FAILING_TESTS = """
import dataclasses

from kgagent.testing import assert_abstains, assert_cites, assert_grounded


def test_cites(kg_agent):
    answer = kg_agent.ask("Who directed Inception?")
    assert_cites(answer, ("Inception", "directed by", "Steven Spielberg"))


def test_abstains(kg_agent):
    assert_abstains(kg_agent.ask("Who directed Inception?"))


def test_grounded(kg_agent):
    answer = kg_agent.ask("Who directed Inception?")
    nobody = "https://kgagent.dev/data/movies/nobody"
    fact = dataclasses.replace(answer.facts[0], object=nobody)
    forged = dataclasses.replace(answer, facts=(fact,), text=answer.text + " [2]")
    assert_grounded(forged)
"""


def test_a_users_test_file_passes_on_the_demo_ontology(pytester):
    pytester.makepyfile(test_users=USERS_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_failing_assertions_say_what_was_expected_and_what_the_answer_had(pytester):
    pytester.makepyfile(test_users=FAILING_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    inception = "<https://kgagent.dev/data/movies/inception>"
    directed_by = "<https://kgagent.dev/ontology/movies#directedBy>"
    expected = [
        # the user's line is shown, not the plugin's (__tracebackhide__)
        '>       assert_cites(answer, ("Inception", "directed by", "Steven Spielberg"))',
        "E       AssertionError: assert_cites: the answer to 'Who directed Inception?' "
        "does not cite ('Inception', 'directed by', 'Steven Spielberg')",
        "E         expected: a cited fact whose subject, predicate and object each match "
        "an IRI or a label (None: any)",
        "E         answer: Christopher Nolan [1].  (kind entities, confidence *)",
        "E         answers (1):",
        "E           Christopher Nolan <https://kgagent.dev/data/movies/christopher_nolan> [1]",
        "E         cited facts (1):",
        "E           [1] Inception was directed by Christopher Nolan",
        f"E               {inception} {directed_by} "
        "<https://kgagent.dev/data/movies/christopher_nolan>",
        "test_users.py:8: AssertionError",
        '>       assert_abstains(kg_agent.ask("Who directed Inception?"))',
        "E       AssertionError: assert_abstains: the agent answered 'Who directed Inception?'",
        "E         expected: an abstention (nothing in the graph supports an answer)",
        "E         answer: Christopher Nolan [1].  (kind entities, confidence *)",
        ">       assert_grounded(forged)",
        "E       AssertionError: assert_grounded: the answer to 'Who directed Inception?' "
        "is not grounded in the graph",
        "E         problems:",
        "E           - [2] in the text refers to no cited fact (the answer cites 1)",
        f"E           - cited fact [1] is not in the store: {inception} {directed_by} "
        "<https://kgagent.dev/data/movies/nobody>",
        "test_users.py:20: AssertionError",
    ]
    result.stdout.fnmatch_lines([line.replace("[", "[[]") for line in expected])  # [1] as is
    assert "assertions.py" not in result.stdout.str()  # no frame of the plugin's own


TINY = """
@prefix e: <http://example.org/e/> .
@prefix r: <http://example.org/r/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
e:alien rdfs:label "Alien" ; r:directed_by e:scott .
e:scott rdfs:label "Ridley Scott" .
"""

OWN_GRAPH_TESTS = """
from kgagent.testing import assert_cites, assert_grounded


def test_my_graph(kg_agent):
    answer = kg_agent.ask("Who directed Alien?")
    assert_grounded(answer)
    assert_cites(answer, ("http://example.org/e/alien", None, "Ridley Scott"))
    assert len(kg_agent.kg) == {triples}
"""


def test_the_ontology_comes_from_the_ini_option_or_the_command_line(pytester):
    (pytester.path / "graphs").mkdir()
    (pytester.path / "graphs" / "tiny.ttl").write_text(TINY, encoding="utf-8")
    more = "<http://example.org/e/scott> <http://example.org/r/born> <http://example.org/e/uk> .\n"
    (pytester.path / "more.nt").write_text(more, encoding="utf-8")
    pytester.makeini("[pytest]\nkgagent_ontology = graphs/tiny.ttl\n")
    pytester.makepyfile(test_mine=OWN_GRAPH_TESTS.format(triples=3))
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    # the command line's files (repeatable) win over the ini option's
    pytester.makepyfile(test_mine=OWN_GRAPH_TESTS.format(triples=4))
    args = ["--kgagent-ontology", "graphs/tiny.ttl", "--kgagent-ontology", "more.nt"]
    pytester.runpytest_inprocess("-p", "no:cacheprovider", *args).assert_outcomes(passed=1)
    missing = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--kgagent-ontology", "x.ttl")
    missing.assert_outcomes(errors=1)
    missing.stdout.fnmatch_lines(
        ["*kg_workspace: no such file: *x.ttl (named by --kgagent-ontology)"]
    )


def test_the_options_are_listed_in_help(pytester):
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "kgagent: fixtures kg_workspace and kg_agent:",
            "  --kgagent-ontology=PATH",
            "  --kgagent-encoder=NAME",
            "  --kgagent-real-model*",
            "  kgagent_ontology (paths):",
        ]
    )


def test_the_bundled_demo_ontology_is_the_repositorys():
    """The plugin ships a copy (package data, for installs from a wheel); after editing
    ontologies/movies.ttl: cp ontologies/movies.ttl kgagent/testing/data/movies.ttl"""
    from kgagent.testing import DEMO_ONTOLOGY

    assert DEMO_ONTOLOGY.read_bytes() == (ROOT / "ontologies" / "movies.ttl").read_bytes()
