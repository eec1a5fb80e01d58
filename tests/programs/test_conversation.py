"""Conversations (issue 21, first part): follow-ups resolved against the dialogue state,
on the film graph of tests/programs (hashing encoder, no LLM)."""

from __future__ import annotations

import json

import pytest

from kgagent.dialogue import DialogueState, StateError
from kgagent.dialogue.followup import read_followup


def test_references_refinements_and_else_are_read_from_function_words():
    fu = read_followup("What else did they direct?")
    assert [r.word for r in fu.refs] == ["they"] and fu.other and fu.refine is None
    fu = read_followup("Name the writers of these films.")
    assert [(r.word, r.noun, r.kind) for r in fu.refs] == [("these", "films", "plural")]
    assert fu.refine is None  # "of these films" names them, it does not narrow them
    assert read_followup("Which of them came out in 2006?").refine is not None
    assert read_followup("And of them, which ones are comedies?").refine is not None
    assert read_followup("Only the Crime ones?").refine is not None
    fu = read_followup("what about its genre?")
    assert fu.lead and fu.refs[0].possessive and fu.refs[0].kind == "thing"
    assert read_followup("Who directed Heat?").refs == ()


def test_a_conversation_resolves_a_reference_an_ellipsis_and_a_refinement(films):
    agent, _ = films
    c = agent.conversation()
    first = c.ask("Who directed Jaws?")
    assert first.labels[:1] == ["Steven Spielberg"] and first.context is None
    other = c.ask("What else did they direct?")
    assert other.context["kind"] == "reference"
    assert other.context["entities"] == [
        {"iri": first.entities[0].iri, "label": "Steven Spielberg"}
    ]
    assert "Jaws" not in other.labels and "Jurassic Park" in other.labels
    assert other.text.startswith("(About Steven Spielberg, from turn 1.)")
    narrowed = c.ask("Which of them star Sam Neill?")
    assert narrowed.context["kind"] == "refinement"
    assert narrowed.labels == ["Jurassic Park"]
    assert set(narrowed.labels) <= set(other.labels)
    # the state round-trips through JSON and goes on where it was
    saved = json.loads(json.dumps(c.to_dict()))
    again = agent.conversation(saved)
    assert [t.question for t in again.state.turns] == [t.question for t in c.state.turns]
    assert again.ask("Who starred in it?").labels == ["Sam Neill"]


def test_a_new_entity_switches_the_topic(films):
    agent, _ = films
    c = agent.conversation()
    c.ask("Who directed Jaws?")
    switched = c.ask("Who directed Ronin?")
    assert switched.labels[:1] == ["John Frankenheimer"]
    assert switched.context["kind"] == "switch" and switched.context["entities"] == []


@pytest.mark.parametrize(
    ("state", "field"),
    [
        ({"version": 2, "turns": []}, "version"),
        ({"version": 1, "turns": [{"question": 1}]}, "state.turns[0].question"),
        ({"version": 1, "turns": [{"question": "q", "asked": "q", "kind": "odd"}]}, "kind"),
        (
            {
                "version": 1,
                "turns": [{"question": "q", "asked": "q", "kind": "first", "answers": [["x"]]}],
            },
            "answers[0]",
        ),
        (
            {"version": 1, "turns": [{"question": "q", "asked": "q", "kind": "first", "extra": 1}]},
            "extra",
        ),
    ],
)
def test_a_bad_stored_state_names_its_field(state, field):
    with pytest.raises(StateError, match=field.replace("[", r"\[").replace("]", r"\]")):
        DialogueState.from_dict(state)


def test_the_state_is_bounded():
    from kgagent.dialogue.state import MAX_TURNS, Turn

    s = DialogueState()
    for i in range(MAX_TURNS + 5):
        s.add(Turn(question=f"q{i}", asked=f"q{i}", kind="new"))
    assert len(s.turns) == MAX_TURNS and s.turns[-1].question == f"q{MAX_TURNS + 4}"
