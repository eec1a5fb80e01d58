"""The expected answer type from the graph's classes: "which cities", "who"."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kgagent.agents import Agent
from kgagent.pipeline.kinds import AnswerKinds, answer_phrase, asked_nouns, names_kind
from kgagent.pipeline.ranker import ChainRanker
from kgagent.retrieval.encoder import HashingEncoder
from kgagent.text import words
from kgagent.types import Candidate
from tests.workspaces import turtle_workspace

TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
E = "http://ex/"


class FakeView:
    """Nodes 0..5: paris, lyon (city), acme (organization), ann (person), and the classes
    city (4) and organization (5); person (6). Relation 0 is rdf:type."""

    num_relations = 2

    def __init__(self) -> None:
        self.relation_terms = [TYPE, f"<{E}located_in>"]
        self.labels = ["Paris", "Lyon", "Acme", "Ann", "city", "organization", "person"]
        self.types = {0: [4], 1: [4], 2: [5], 3: [6]}
        self.calls = 0

    def node(self, iri: str) -> int | None:
        names = ["paris", "lyon", "acme", "ann"]
        return names.index(iri[len(E) :]) if iri.startswith(E) else None

    def entity_label(self, node: int) -> str:
        return self.labels[node]

    def out_edges(self, nodes: np.ndarray, scope=None) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        tails = [c for n in nodes.tolist() for c in self.types.get(n, [])]
        return np.zeros(len(tails), dtype=np.int64), np.array(tails, dtype=np.int64)


def answers(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{E}{n}", n.title()) for n in names)


def test_the_kind_of_answers_is_their_class_words_read_once_per_node():
    view = FakeView()
    kinds = AnswerKinds(view)
    k = kinds.of(answers("paris", "lyon"))
    assert k.words == {"city"} and not k.people
    assert kinds.of(answers("ann")).people
    assert not kinds.of((("1994", "1994"),))  # a literal has no class
    calls = view.calls
    kinds.of(answers("paris", "lyon", "ann"))
    assert view.calls == calls  # classes of a node are kept


def test_an_untyped_graph_has_no_kinds():
    view = FakeView()
    view.relation_terms = [f"<{E}located_in>"]
    assert not AnswerKinds(view).of(answers("paris"))


class RoleView:
    """An untyped graph: films 0, 1 (directed by person 2, of genre 3); relations 0
    "directed by", 1 "has genre" (actions 2, 3 their inverses)."""

    num_relations = 2
    relation_terms = (f"<{E}directed_by>", f"<{E}has_genre>")
    relation_texts = ("directed by", "has genre", "directed", "is the genre of")

    def __init__(self) -> None:
        self.edges = {0: [(0, 2), (1, 3)], 1: [(0, 2)], 2: [(2, 0), (2, 1)], 3: [(3, 0)]}

    def node(self, iri: str) -> int | None:
        names = ["heat", "ronin", "mann", "crime"]
        return names.index(iri[len(E) :]) if iri.startswith(E) else None

    def out_edges(self, nodes: np.ndarray, scope=None) -> tuple[np.ndarray, np.ndarray]:
        pairs = [e for n in nodes.tolist() for e in self.edges.get(n, [])]
        rels = [r for r, _ in pairs]
        return np.array(rels, dtype=np.int64), np.array([t for _, t in pairs], dtype=np.int64)


def test_untyped_answers_are_people_where_a_relation_names_them_so():
    """The object of "directed by" is a director, a person; a genre is not one, and a
    film (the object of nothing) has no kind. None of them has class words."""
    kinds = AnswerKinds(RoleView())
    mann = kinds.of(answers("mann"))
    assert mann.people and not mann.words
    assert not kinds.of(answers("crime")).people
    assert not kinds.of(answers("heat", "ronin")).people
    assert not kinds.of((("1995", "1995"),)).people  # a literal: no node, no role
    assert kinds.of(answers("mann", "heat", "ronin")).people is False  # most are not


def test_who_asks_for_the_people_an_untyped_graph_names_by_their_roles():
    """ "who is the director that directed X" names the director twice; the loop X ->
    director -> the director's films reads as well as the one hop, but its answers are
    films, and "who" (or "which person") asks for people."""
    enc = HashingEncoder()
    texts = RoleView.relation_texts
    ranker = ChainRanker(enc, texts, enc.encode(texts), kinds=AnswerKinds(RoleView()))

    def chain(names, score):
        return dataclasses.replace(cand("directed by", names, score), inverse=(False,))

    director, films = chain(("mann",), 1.0), chain(("heat", "ronin"), 1.2)
    for q in ("who is the director that directed France", "which person directed France"):
        assert best(ranker, q, [films, director]) is director
    # where the graph names people by their roles, answers it does not name so are no
    # people: they lose what people gain
    assert best(ranker, "who directed France", [chain(("heat",), 1.5), director]) is director
    assert best(ranker, "what did the director of France direct", [films, director]) is films


class CrewView(RoleView):
    """An untyped graph: film 0 directed by person 1, written by person 2; relations 0
    "directed by", 1 "written by" (actions 2, 3 their inverses)."""

    relation_terms = (f"<{E}directed_by>", f"<{E}written_by>")
    relation_texts = ("directed by", "written by", "directed", "wrote")

    def __init__(self) -> None:
        self.edges = {0: [(0, 1), (1, 2)], 1: [(2, 0)], 2: [(3, 0)]}

    def node(self, iri: str) -> int | None:
        names = ["heat", "mann", "roth"]
        return names.index(iri[len(E) :]) if iri.startswith(E) else None


def test_the_role_a_question_names_tells_people_apart():
    """ "who is listed as screenwriter of X": the director and the writer are both
    people, and the words align no better with one; the role the question names is the
    writer's ("written by" names its object a writer), so the director loses."""
    from kgagent.pipeline.kinds import asked_roles, person_role, role_matches

    assert person_role("written by") == "writer" and person_role("starred actors")
    assert person_role("has genre") is None and person_role("directed") is None
    assert role_matches("screenwriter", "writer") and role_matches("actors", "starred actor")
    assert not role_matches("director", "writer") and not role_matches("person", "writer")

    def roles(q):
        return asked_roles(words(q))

    assert roles("who is listed as screenwriter of NE") == ["screenwriter"]
    assert roles("who was the director of NE") == ["director"]
    assert roles("which actors starred in NE") == ["actors"]
    assert roles("who directed NE") == [] and roles("who starred in films NE wrote") == []
    assert roles("who is NE's director") == ["director"]
    assert roles("who is NE married to, the actor") == []  # the topic ends the reach

    enc = HashingEncoder()
    texts = CrewView.relation_texts
    ranker = ChainRanker(enc, texts, enc.encode(texts), kinds=AnswerKinds(CrewView()))

    def chain(label, names, score):
        return dataclasses.replace(cand(label, names, score), inverse=(False,))

    director, writer = chain("directed by", ("mann",), 1.2), chain("written by", ("roth",), 1.0)
    assert best(ranker, "who is listed as screenwriter of France", [director, writer]) is writer
    assert best(ranker, "which person was involved in France", [director, writer]) is director


def test_a_question_that_asks_for_another_noun_is_not_answered_by_people():
    """ "which films are about X": the loop through X's people reads as well as the
    films, but films are asked for; so for "where", and a noun phrase's head ("the
    genre of X")."""
    enc = HashingEncoder()
    texts = RoleView.relation_texts
    ranker = ChainRanker(enc, texts, enc.encode(texts), kinds=AnswerKinds(RoleView()))
    people = dataclasses.replace(cand("directed by", ("mann",), 1.2), inverse=(False,))
    films = dataclasses.replace(cand("directed by", ("heat", "ronin"), 1.0), inverse=(False,))
    for q in ("which films are about France", "where was France made", "the genre of France",
              "show me the films of France", "what did France make"):  # fmt: skip
        assert best(ranker, q, [people, films]) is films, q
    # the name of a person is the person; "which" alone says nothing of a kind
    for q in ("what is the name of the director of France", "which did France make"):
        assert best(ranker, q, [people, films]) is people, q


def test_the_asked_nouns_follow_the_asking_word_or_open_the_question():
    def asked(q):
        return asked_nouns(words(q))

    assert asked("which other starred actors does NE have") == ["other", "starred", "actors"]
    assert asked("what is the director of NE") == ["director"]
    assert asked("what did NE write") == ["what"]  # a verb's object: a thing
    assert asked("which did NE write") == []
    assert asked("who directed NE") == []
    assert asked("the sex of NE's heir") == ["sex"]
    assert asked("tell me the starred actors of NE") == ["starred", "actors"]
    assert asked("where did NE's son die") == ["where"]
    assert asked("what is the NE 's child 's nation") == ["nation"]
    assert asked("the sex of NE's heir") == ["sex"]
    assert asked("what is NE's father") == ["father"]
    # a relative "who" / "whose" ends the group and asks for no one
    assert asked("tell me everything whose starred actors include NE") == ["everything"]


def test_who_asks_for_a_person_where_it_does_not_open_a_relative_clause():
    from kgagent.pipeline.kinds import asks_who

    def who(q):
        toks = words(q)
        return [asks_who(toks, i) for i, w in enumerate(toks) if w in ("who", "whom", "whose")]

    assert who("who directed NE") == [True]
    assert who("NE was directed by whom") == [True]
    assert who("tell me who directed NE") == [True]
    assert who("the films written by the writer of NE starred who") == [True]
    assert who("whose films did NE star in") == [True]
    assert who("which films did the person who wrote NE direct") == [False]
    assert who("the genre of everything whose starred actors include NE") == [False]
    assert who("what did those who wrote NE direct") == [False]
    assert answer_phrase(words("the genres of everything whose director is NE"))[1] is False


def test_a_class_is_named_by_its_noun_or_its_plural_not_by_another_form():
    assert names_kind({"which", "cities", "are", "in"}, {"city"}) == {"city"}
    assert names_kind({"what", "movies"}, {"movie"}) == {"movie"}
    assert names_kind({"where", "was", "it", "filmed"}, {"film"}) == set()
    assert names_kind({"the", "film"}, {"film", "organization"}) == {"film"}


def test_the_answer_is_the_kind_the_asking_phrase_names_not_one_on_the_way():
    def phrase(q):
        return answer_phrase(words(q))

    assert phrase("which cities are located in NE?") == (["cities", "are", "located"], False)
    assert phrase("in which city was NE born?")[0][0] == "city"
    assert "country" in phrase("what is the country of citizenship of NE?")[0]
    assert phrase("films directed by NE")[0][0] == "films"
    # a class named after "who" is on the way: the answer is a person
    assert phrase("Who starred in films directed by NE?") == ([], True)
    assert "films" not in phrase("which actors starred in films directed by NE?")[0]


def cand(label: str, names: tuple[str, ...], score: float) -> Candidate:
    return Candidate(
        topic=f"{E}france",
        topic_label="France",
        relations=(f"{E}{label.replace(' ', '_')}",),
        inverse=(True,),
        relation_labels=(label,),
        answers=answers(*names),
        total=len(names),
        support=tuple(() for _ in names),
        score=score,
    )


@pytest.fixture()
def ranker():
    enc = HashingEncoder()
    texts = ["located in", "based in"]
    return ChainRanker(enc, texts, enc.encode(texts), kinds=AnswerKinds(FakeView()))


def best(ranker, question: str, pool: list[Candidate]) -> Candidate:
    start = question.index("France")
    [scores] = ranker.rank([question], [(start, start + 6)], [pool])
    return pool[int(np.argmax(scores))]


def test_the_ranker_prefers_answers_of_the_class_the_question_names(ranker):
    cities = cand("located in", ("paris", "lyon"), score=1.0)
    firms = cand("based in", ("acme",), score=1.2)  # retrieval's favourite
    assert best(ranker, "which cities are in France", [firms, cities]) is cities
    assert best(ranker, "what organizations are in France", [cities, firms]) is firms
    # no class named: retrieval's order stands
    assert best(ranker, "what is in France", [cities, firms]) is firms
    people = cand("based in", ("ann",), score=1.2)
    assert best(ranker, "who is in France", [cities, people]) is people
    ranker.type_weight = 0.0  # the signal off: retrieval's favourite wins again
    assert best(ranker, "which cities are in France", [firms, cities]) is firms


def test_who_followed_by_the_relation_itself_takes_its_classed_answers_people_or_not():
    """ "who published X": the graph's publishers answer it, though they are
    organizations; a person reached by another relation does not win on being one."""
    enc = HashingEncoder()
    texts = ["publisher", "author"]
    ranker = ChainRanker(enc, texts, enc.encode(texts), kinds=AnswerKinds(FakeView()))
    firm, person = cand("publisher", ("acme",), score=1.0), cand("author", ("ann",), score=1.0)
    assert best(ranker, "who published France", [person, firm]) is firm
    assert best(ranker, "who wrote France", [firm, person]) is person
    # a candidate of no hop (the topic itself, classed) is weighed like any other
    topic = dataclasses.replace(firm, relations=(), inverse=(), relation_labels=(), score=0.0)
    assert best(ranker, "who published France", [topic, person, firm]) is firm


TTL = """@prefix ex: <http://ex/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:City rdfs:label "city" . ex:Country rdfs:label "country" . ex:Company rdfs:label "company" .
ex:located_in rdfs:label "country" . ex:hq rdfs:label "headquarters location" .
ex:citizen rdfs:label "country of citizenship" .
ex:france a ex:Country ; rdfs:label "Fralia" .
ex:paris a ex:City ; rdfs:label "Parvu" ; ex:located_in ex:france .
ex:lyon a ex:City ; rdfs:label "Lyvo" ; ex:located_in ex:france .
ex:acme a ex:Company ; rdfs:label "Acmo Works" ; ex:hq ex:paris .
ex:bolt a ex:Company ; rdfs:label "Bolto Group" ; ex:hq ex:lyon .
ex:ann rdfs:label "Ann Vero" ; ex:citizen ex:france .
"""


def test_a_typed_graph_answers_the_kind_asked_for(tmp_path):
    """End to end: "what cities are located in X" reaches the cities (one hop), not the
    companies headquartered in them (two), and "the country of citizenship" of a person
    is the country, not its cities."""
    ws = turtle_workspace(tmp_path, TTL)
    with Agent.open(ws, read_only=True) as agent:
        cities, country = agent.ask_batch(
            [
                "what cities are located in Fralia?",
                "what is the country of citizenship of Ann Vero?",
            ]
        )
    assert set(cities.labels) == {"Parvu", "Lyvo"}
    assert country.labels == ["Fralia"]
