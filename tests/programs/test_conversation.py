"""Conversations (issue 21, first part): follow-ups resolved against the dialogue state,
on the film graph of tests/programs (hashing encoder, no LLM)."""

from __future__ import annotations

import json
import re

import pytest

from kgagent.dialogue import DialogueState, StateError
from kgagent.dialogue.followup import read_followup
from tests.programs.conftest import E


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
    assert s.count == MAX_TURNS + 5  # turns are numbered in the conversation, not the window
    again = DialogueState.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again.count == MAX_TURNS + 5


def test_an_empty_saved_state_is_refused(films):
    from kgagent.dialogue import Conversation

    with pytest.raises(StateError, match="version"):
        Conversation.resume(films[0], {})


def test_else_leaves_the_topic_out_of_the_text_and_the_facts_too(films):
    agent, _ = films
    c = agent.conversation()
    c.ask("Who directed Jaws?")
    other = c.ask("What else did they direct?")
    assert "Jaws" not in other.labels and "Jaws" not in other.text
    assert all("Jaws" not in f.text for f in other.facts)
    cited = {f"[{n}]" for n in range(1, len(other.facts) + 1)}
    assert cited == set(re.findall(r"\[\d+\]", other.text))


@pytest.mark.parametrize(
    ("question", "refs"),
    [
        ("What kind of film is that?", [("that", "")]),
        ("Tell me who directed that one.", [("that", "one")]),
        ("When was that released?", [("that", "")]),
        ("Was that film released in 1990?", [("that", "film")]),
        ("Name the films that Kathy Burke starred in.", []),  # a relative clause
        ("Which films that Ridley Scott directed star Russell Crowe?", []),
    ],
)
def test_demonstratives_refer_only_as_pronouns(question, refs):
    assert [(r.word, r.noun) for r in read_followup(question).refs] == refs


def test_what_a_question_asks_for_decides_who_they_are():
    from kgagent.dialogue.followup import asks_people, they_act

    assert asks_people("Tell me who wrote that one.") and asks_people("and its director?")
    assert asks_people("Which people starred in Heat?")
    assert not asks_people("What did that director write?")  # the person is referred to
    assert not asks_people("Which movies did Al Pacino star in?")  # "star" is a verb here
    last = "Which movies did Niki Caro direct?"
    assert they_act("And which did they write?", last)
    assert they_act("What about the movies they produced?", last)
    assert not they_act("When were they released?", last)
    assert not they_act("What years did they come out?", last)


class _Genres:
    """An agent over a film and its genre: the genre is shared by thousands of films."""

    def __init__(self):
        from kgagent.retrieval.linker import EntityCandidate

        self.Candidate = EntityCandidate
        self.asked: list[str] = []

    def link(self, question, top_k=3):
        i = question.find("Coraline")
        return [self.Candidate(E + "coraline", "Coraline", "Coraline", i, i + 8, 1.0, "exact")][
            : top_k if i >= 0 else 0
        ]

    def relation_spread(self, relation, inverse):
        return 700.0 if relation == E + "genre" and not inverse else 1.0

    def ask(self, question):
        return self.ask_batch([question])[0]

    def ask_batch(self, questions):
        self.asked += questions
        return [self._answer(q) for q in questions]

    def _answer(self, q):
        from kgagent.types import Answer, AnswerEntity, Fact

        tail, label = ("fantasy", "Fantasy") if "genre" in q else ("2009", "2009")
        fact = Fact(1, E + "coraline", E + "genre", E + tail, "Coraline", "genre", label,
                    f"Coraline genre {label}")  # fmt: skip
        entity = AnswerEntity(E + tail, label, 1.0, (1,))
        return Answer(q, f"{label} [1].", (entity,), (fact,), (), 1.0, False)


def test_it_means_the_topic_when_the_answer_is_a_category_the_graph_shares_widely():
    from kgagent.dialogue import Conversation

    agent = _Genres()
    c = Conversation(agent)
    c.ask("Which genre is Coraline?")
    assert c.state.last.category  # the genre relation gathers 700 films per genre
    later = c.ask("And when did it come out?")
    assert agent.asked[-1] == "when did Coraline come out?"  # the opening "And" dropped
    assert later.context["kind"] == "ellipsis"


def test_relation_spread_tells_categories_from_things_on_the_graph(films):
    from tests.programs.conftest import R

    agent, _ = films
    # release_year gathers the graph's 10 films into 9 years; directed_by, walked from
    # 3 directors to 9 films, reaches more entities than it leaves from
    assert agent.relation_spread(R + "release_year", False) == pytest.approx(10 / 9)
    assert agent.relation_spread(R + "directed_by", True) == pytest.approx(3 / 9)
    assert agent.relation_spread(R + "nothing", False) == 0.0


@pytest.mark.parametrize(
    ("question", "rest"),
    [
        ("Which ones are Drama movies?", " are Drama movies?"),
        ("Only those directed by Daniel Petrie.", "directed by Daniel Petrie."),
        ("OK, of those, which came out in 2005?", ", which came out in 2005?"),
        ("Only the ones in English, please.", "in English, please."),
    ],
)
def test_refinements_are_read_however_they_open(question, rest):
    fu = read_followup(question)
    assert fu.refine is not None
    assert question[: fu.refine[0]] + question[fu.refine[1] :] == rest


def test_an_opening_word_does_not_hide_an_ellipsis():
    assert read_followup("OK, and the genre?").lead
    assert read_followup("so what about its language?").lead
    assert not read_followup("Which genre is Heat?").lead


def test_a_name_set_off_before_a_reference_is_the_new_topic(films):
    agent, _ = films
    c = agent.conversation()
    c.ask("Who directed Jaws?")
    switched = c.ask("Ronin: who directed it?")
    assert switched.labels[:1] == ["John Frankenheimer"]
    assert switched.context["kind"] == "switch"


def test_the_movie_refers_back_only_when_it_names_what_was_asked_about(films):
    agent, _ = films
    c = agent.conversation()
    c.ask("Which films did John Frankenheimer direct?")  # Ronin, his one film here
    who = c.ask("Who starred in the film?")
    assert who.context["kind"] == "reference" and who.labels == ["Robert De Niro"]
    fu = read_followup("And the genre?")
    assert [r.noun for r in fu.definite] == ["genre"]  # a candidate only: not a film word


@pytest.mark.parametrize(
    ("question", "alone"),
    [
        ("On another note, who wrote Heat?", "who wrote Heat?"),
        ("Next question: which genre is Heat?", "which genre is Heat?"),
        ("Right, and its genre?", "its genre?"),
        ("Could you keep only those", "keep only those"),
        ("Next Friday is what genre?", "Next Friday is what genre?"),  # a title
        ("Nowhere to Run: who directed it?", "Nowhere to Run: who directed it?"),
    ],
)
def test_a_turns_opening_words_are_dropped_but_never_a_title(question, alone):
    from kgagent.dialogue.followup import strip_opening

    assert strip_opening(question) == alone


@pytest.mark.parametrize(
    ("rest", "asked"),
    [
        ("came out in 2005", "Which films did X direct that came out in 2005?"),
        ("in English", "Which films did X direct that are in English?"),
        ("directed by Y", "Which films did X direct that were directed by Y?"),
        ("Drama ones", "Which films did X direct that are Drama ones?"),
        ("star Sam Neill", "Which films did X direct that star Sam Neill?"),
    ],
)
def test_a_refinement_reads_as_one_constraint_clause(rest, asked):
    from kgagent.dialogue.followup import joined_constraint

    assert joined_constraint("Which films did X direct?", rest) == asked


def test_a_refinement_narrows_the_last_program_without_retrieving_again(films):
    agent, _ = films
    c = agent.conversation()
    first = c.ask("Which films did Steven Spielberg direct?")
    assert first.program["op"] == "entities" and c.state.last.program == first.program
    asked = []
    ask_batch = agent.ask_batch
    try:
        agent.ask_batch = lambda qs: asked.extend(qs) or ask_batch(qs)
        narrowed = c.ask("Which of them came out in 1993?")
    finally:
        del agent.ask_batch
    assert asked == []  # the last answer's chain, narrowed: no retrieval
    assert sorted(narrowed.labels) == ["Jurassic Park", "Schindler's List"]
    assert narrowed.context["kind"] == "refinement"
    # the kept program round-trips, and a bad one is refused naming its field
    again = agent.conversation(json.loads(json.dumps(c.to_dict())))
    assert again.state.turns[0].program == first.program
    bad = c.to_dict()
    bad["turns"][0]["program"] = {"op": "entities", "chain": {"topic": "not an iri"}}
    with pytest.raises(StateError, match=r"turns\[0\]\.program"):
        agent.conversation(bad)
