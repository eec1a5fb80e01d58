"""The program proposer on the film graph: each typed question's best program executes to
the right answer (and its SPARQL agrees), plain chain questions get no program, and
numbers inside names are never read as constraints.

The questions are this file's own wording; the encoder is the hashing one (no synonyms),
so relations are found through the graph's values and the words they share with the
question.
"""

from __future__ import annotations

import pytest

from kgagent.agents import Agent
from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
from kgagent.programs import LocalProgramGraph, execute, read_answer, to_sparql
from kgagent.programs.align import WindowAligner
from kgagent.programs.cues import read_cues
from kgagent.programs.mentions import masked_text, read_mentions
from kgagent.programs.propose import ProgramProposer, ScoredProgram
from kgagent.retrieval.linker import EntityCandidate
from kgagent.text import stem
from kgagent.types import Evidence
from kgagent.workspace import init_workspace, open_kg
from tests.programs.conftest import E


def make_proposer(agent, graph) -> ProgramProposer:
    r = agent.retriever
    return ProgramProposer(graph, r.encoder, r.relation_terms, r.relation_texts,
                           r.relation_vectors)  # fmt: skip


@pytest.fixture(scope="module")
def proposer(films):
    return make_proposer(*films)


def propose(films, proposer, question: str) -> list[ScoredProgram]:
    evidence = films[0].retriever.evidence([question])[0]
    return proposer.propose(question, evidence)


def best_answer(films, proposer, question: str):
    """The top program's answer, after checking the store's SPARQL agrees with it."""
    found = propose(films, proposer, question)
    assert found, f"no program for {question!r}"
    assert found == sorted(found, key=lambda p: -p.score)
    top = found[0]
    result = execute(top.program, films[1])
    assert not result.abstained, (question, top, result.abstain)
    text, bindings = to_sparql(top.program)
    store = read_answer(top.program, films[0].kg.query(text, bindings=bindings))
    if result.kind == "number":
        assert store == result.number
    elif result.kind == "boolean":
        assert store == result.boolean
    else:
        assert store == {i.value for i in result.items}
    return top, result


TYPED = {
    # count
    "How many films did Steven Spielberg direct?": ("count", ["5"]),
    "Tell me the number of films Robert De Niro starred in.": ("count", ["3"]),
    "How many films did Steven Spielberg direct in 1993?": ("count", ["2"]),
    # yes / no: a chain that reaches (or not) the other entity
    "Did Martin Scorsese direct Goodfellas?": ("exists", ["yes"]),
    "Was Taxi Driver directed by Steven Spielberg?": ("exists", ["no"]),
    "Does Ronin have Robert De Niro among its starred actors?": ("exists", ["yes"]),
    "Was Jaws released in 1975?": ("exists", ["yes"]),
    "Was Ronin released in 1993?": ("exists", ["no"]),
    "Did Steven Spielberg direct anything after 2000?": ("exists", ["no"]),
    "Did Steven Spielberg direct any film before 1980?": ("exists", ["yes"]),
    "Did Robert De Niro ever star alongside Ray Liotta?": ("exists", ["yes"]),
    "Did Robert De Niro ever star alongside Sam Neill?": ("exists", ["no"]),
    # yes / no: two entities compared on a value
    "Was Jaws released before Ronin?": ("compare", ["yes"]),
    "Is Ronin older than Jaws?": ("compare", ["no"]),
    "Did Goodfellas come out after Taxi Driver?": ("compare", ["yes"]),
    # comparison: which of two
    "Which was released first, Ronin or Jaws?": ("compare", ["Jaws"]),
    "Which is newer: Taxi Driver or Goodfellas?": ("compare", ["Goodfellas"]),
    "Between Jurassic Park and Ronin, which one is more recent?": ("compare", ["Ronin"]),
    # superlative
    "What is the earliest film directed by Martin Scorsese?": ("argmin", ["Taxi Driver"]),
    "Which Steven Spielberg film has the highest rating?": ("argmax", ["Schindler's List"]),
    "Among the films Martin Scorsese directed, which is the newest?": (
        "argmax",
        ["The Departed"],
    ),
    # value constraint
    "Which films did Steven Spielberg direct in 1993?": (
        "entities",
        ["Jurassic Park", "Schindler's List"],
    ),
    "Which Martin Scorsese films came out before 1980?": ("entities", ["Taxi Driver"]),
    "Name the Martin Scorsese films released since 1990.": (
        "entities",
        ["The Departed", "Goodfellas"],
    ),
    "Which of Robert De Niro's films came out in the 1990s?": ("entities", ["Goodfellas", "Ronin"]),
    # two constraints
    "Which films directed by Martin Scorsese star Robert De Niro?": (
        "entities",
        ["Goodfellas", "Taxi Driver"],
    ),
    "Which Robert De Niro films were directed by John Frankenheimer?": ("entities", ["Ronin"]),
    "In which films did Robert De Niro and Ray Liotta both star?": ("entities", ["Goodfellas"]),
}


@pytest.mark.parametrize("question", list(TYPED))
def test_the_best_program_answers_the_question(films, proposer, question):
    op, answers = TYPED[question]
    top, result = best_answer(films, proposer, question)
    assert top.program.op == op, top
    assert top.cue
    assert sorted(result.answers) == sorted(answers), top.program.to_dict()


def test_each_operation_names_its_cue(films, proposer):
    cues = {
        "How many films did Steven Spielberg direct?": "how many",
        "Did Martin Scorsese direct Goodfellas?": "did",
        "What is the earliest film directed by Martin Scorsese?": "earliest",
        "Which films did Steven Spielberg direct in 1993?": "in 1993",
        "Was Jaws released before Ronin?": "before",
    }
    for question, cue in cues.items():
        assert cue in propose(films, proposer, question)[0].cue


def test_a_superlative_over_dates_compares_days(films, proposer):
    top, result = best_answer(films, proposer, "Which was released first, Jaws or E.T.?")
    assert result.answers == ["Jaws"]
    assert top.program.by is not None


def test_alternatives_follow_the_best(films, proposer):
    found = propose(films, proposer, "Which films did Steven Spielberg direct in 1993?")
    relations = {p.program.constraints[0].relation.rsplit("/", 1)[-1] for p in found}
    assert len(found) >= 2 and {"release_year", "released", "year"} & relations
    assert len({repr(p.program.to_dict()) for p in found}) == len(found)


@pytest.mark.parametrize(
    "question",
    [
        "Who directed Jaws?",
        "Which films did Robert De Niro star in?",
        "What language is Jaws in?",
        "Which films came out in 1993?",  # the year is the topic
        "Could you tell me who directed Jaws?",  # a request, not a yes / no
        "How many votes does Jaws have?",  # a number the graph holds, not a count
    ],
)
def test_a_plain_chain_question_gets_no_program(films, proposer, question):
    assert propose(films, proposer, question) == []


def test_without_a_linked_entity_there_is_no_program(proposer):
    question = "How many films were released before 1990?"
    assert proposer.propose(question, Evidence(question=question, facts=())) == []
    assert proposer.propose("", Evidence(question="", facts=())) == []


def test_an_entity_outside_the_graph_is_not_used(proposer):
    question = "How many films did Nobody Known direct?"
    stray = EntityCandidate(E + "nobody", "Nobody Known", "Nobody Known", 18, 30, 1.0, "exact")
    assert proposer.propose(question, Evidence(question, (), entities=(stray,))) == []


def with_link(films, question: str, text: str, iri: str, score: float = 0.85) -> Evidence:
    """The pipeline's evidence with one more confident link (as an untrained linker makes)."""
    evidence = films[0].retriever.evidence([question])[0]
    start = question.index(text)
    extra = EntityCandidate(iri, text, text, start, start + len(text), score, "exact")
    return Evidence(question, evidence.facts, entities=(*evidence.entities, extra),
                    candidates=evidence.candidates)  # fmt: skip


def test_a_linked_common_noun_nothing_reaches_does_not_block_the_operation(films, proposer):
    q = "What is the earliest film directed by Martin Scorsese?"
    found = proposer.propose(q, with_link(films, q, "film", E + "neill"))
    assert found and found[0].program.op == "argmin"
    assert not found[0].program.constraints
    assert execute(found[0].program, films[1]).answers == ["Taxi Driver"]


def test_a_named_entity_nothing_reaches_is_not_dropped(films, proposer):
    q = "How many films did Martin Scorsese direct with Sam Neill?"
    found = proposer.propose(q, with_link(films, q, "Sam Neill", E + "neill", 1.0))
    assert all(sp.program.constraints for sp in found if sp.program.op == "count")


# -- numbers inside names ---------------------------------------------------------------

TITLED_TTL = """
@prefix r: <http://example.org/rel/> .
@prefix e: <http://example.org/ent/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
e:flight rdfs:label "Flight 1975" ; r:directed_by e:kim ; r:release_year e:1980 .
e:nineteen rdfs:label "1941" ; r:directed_by e:kim ; r:release_year e:1979 .
e:harbour rdfs:label "Harbour Lights" ; r:directed_by e:kim ; r:release_year e:1975 .
e:kim rdfs:label "Kim Novarro" .
e:1975 rdfs:label "1975" . e:1979 rdfs:label "1979" . e:1980 rdfs:label "1980" .
"""


@pytest.fixture(scope="module")
def titled(tmp_path_factory):
    """(agent, program graph, proposer) over films whose titles hold numbers."""
    root = tmp_path_factory.mktemp("titled") / "ws"
    config = AgentConfig(
        retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none")
    )
    init_workspace(root, config=config)
    path = root.parent / "titled.ttl"
    path.write_text(TITLED_TTL, encoding="utf-8")
    with open_kg(root) as kg:
        kg.load(path)
    agent = Agent.open(root)
    agent.index()
    graph = LocalProgramGraph(agent.retriever.graph)
    yield agent, graph, make_proposer(agent, graph)
    agent.close()


@pytest.mark.parametrize("question", ["Who directed Flight 1975?", "Who directed 1941?"])
def test_a_year_in_the_topic_s_own_title_is_no_constraint(titled, question):
    agent, _, proposer = titled
    assert proposer.propose(question, agent.retriever.evidence([question])[0]) == []


def test_a_year_beside_a_title_with_a_number_constrains(titled):
    agent, graph, proposer = titled
    question = "How many films did Kim Novarro direct after 1976?"
    found = proposer.propose(question, agent.retriever.evidence([question])[0])
    assert found and found[0].program.constraints[0].value == "1976"
    assert execute(found[0].program, graph).answers == ["2"]


# -- the parts ---------------------------------------------------------------------------


def test_cues_read_ranges_decades_adverbs_and_comparatives():
    c = read_cues("Which films came out between 1990 and 2000?")
    assert [(n.op, n.value) for n in c.numbers] == [(">=", "1990"), ("<=", "2000")]
    c = read_cues("Films of the 1970s by Kim")
    assert [(n.op, n.value) for n in c.numbers] == [(">=", "1970"), ("<=", "1979")]
    c = read_cues("Which of her films was shown most recently?")
    assert (c.order.word, c.order.direction, c.order.temporal) == ("recently", "max", True)
    c = read_cues("Is a longer than b?")
    assert c.yes_no == "is" and (c.order.direction, c.order.temporal) == ("max", False)
    c = read_cues("Films rated more than 7.5 before 1990")
    assert [(n.op, n.value, n.year_like) for n in c.numbers] == [
        (">", "7.5", False),
        ("<", "1990", True),
    ]
    assert c.order is None  # "more than" and "before" compare numbers, they order nothing


def test_a_question_offering_alternatives_asks_which_not_whether():
    assert read_cues("Is Kim's heir a man or a woman?").yes_no is None
    assert read_cues("Was Heat a comedy or not?").yes_no == "was"
    assert read_cues("Did Kim direct Heat?").yes_no == "did"


def test_cues_inside_a_mention_are_dropped():
    q = "How many people starred in The Last Emperor before 1990?"
    c = read_cues(q).outside([(q.index("The Last"), q.index(" before"))])
    assert c.order is None and c.count == "how many" and len(c.numbers) == 1
    q = "Who directed Apollo 13?"
    assert read_cues(q).outside([(13, 22)]).numbers == ()


def entity(question, text, iri, label, score, method="exact"):
    start = question.index(text)
    return EntityCandidate(iri, label, text, start, start + len(text), score, method)


def test_the_longest_mention_wins_narrowed_to_its_label():
    q = "Did A Tale of Winter come out before Two Days?"
    found = [
        entity(q, "A Tale of Winter come", "x:tale", "A Tale of Winter", 0.75, "fuzzy"),
        entity(q, "Winter", "x:winter", "winter", 0.77, "normalized"),
        entity(q, "Two Days", "x:days", "Two Days", 1.0),
    ]
    nodes = {"x:tale": 1, "x:winter": 2, "x:days": 3}
    mentions = read_mentions(q, found, nodes.get, read_cues(q).spans())
    assert [(m.iri, q[m.start : m.end]) for m in mentions] == [
        ("x:days", "Two Days"),
        ("x:tale", "A Tale of Winter"),
    ]


def test_a_mention_over_a_cue_yields_to_a_better_linked_entity():
    q = "What was the last movie Kim Novarro directed?"
    found = [
        entity(q, "the last movie", "x:last", "The Last Movie", 0.79, "normalized"),
        entity(q, "Kim Novarro", "x:kim", "Kim Novarro", 1.0),
    ]
    nodes = {"x:last": 1, "x:kim": 2}
    mentions = read_mentions(q, found, nodes.get, read_cues(q).spans())
    assert [m.iri for m in mentions] == ["x:kim"]
    q = "Who directed The Last Movie?"
    alone = [entity(q, "The Last Movie", "x:last", "The Last Movie", 0.79, "normalized")]
    assert [m.iri for m in read_mentions(q, alone, nodes.get, read_cues(q).spans())] == ["x:last"]


def test_each_relation_takes_the_words_next_to_its_entity():
    from kgagent.retrieval.encoder import HashingEncoder

    texts = ["written by", "directed by", "wrote", "directed"]
    encoder = HashingEncoder()
    aligner = WindowAligner(encoder, texts, encoder.encode(texts))
    q = "Which films written by Ann Lee were directed by Bo Ray?"
    ann, bo = (q.index("Ann Lee"), q.index(" were")), (q.index("Bo Ray"), q.index("?"))
    sims, spans = aligner.sims(masked_text(q, [ann, bo]))
    right = aligner.align(sims, spans, [(2, ann), (1, bo)])  # Ann wrote, Bo directed
    swapped = aligner.align(sims, spans, [(3, ann), (0, bo)])
    twice = aligner.align(sims, spans, [(3, ann), (1, bo)])  # "directed" spent twice
    assert right > swapped and right > twice


def test_value_relations_and_classes_are_read_from_the_graph(films):
    from kgagent.programs.relations import Classes, ValueRelations

    agent, graph = films
    found = {
        (v.relation.rsplit("/", 1)[-1], v.inverse): v.temporal
        for v in ValueRelations(graph, agent.retriever.relation_terms).all()
    }
    assert found[("release_year", False)] and found[("released", False)]
    assert found[("year", False)] and not found[("rating", False)]
    assert not found[("votes", False)]
    assert not any("label" in r for r, _ in found)  # names, not values
    classes = Classes(graph)
    jaws, duel = graph.node(E + "jaws"), graph.node(E + "duel")
    documentary = stem("documentary")  # class labels are compared as stems
    assert "film" in classes.of([jaws]) and documentary in classes.of([duel])
    assert {"film", documentary} <= classes.all()
    assert classes.of([graph.node(E + "spielberg")]) == set()


def test_a_constraint_walking_a_relation_and_back_needs_words_of_sharing(films, proposer):
    """ "The same year as X" is a release year walked there and back; without such words
    that loop joins two entities the question never related (the ranker's rule)."""
    graph = films[1]
    said = propose(
        films, proposer, "Which films did Steven Spielberg direct the same year as Jaws?"
    )
    said += propose(
        films,
        proposer,
        "Which films did Steven Spielberg make in the same year as Schindler's List?",
    )
    loops = [
        sp.program
        for sp in said
        for c in sp.program.constraints
        if getattr(c, "hops", None) and len(c.hops) == 2 and c.hops[0][0] == c.hops[1][0]
    ]
    assert loops  # offered where the question says "same"
    assert any("Jurassic Park" in execute(p, graph).answers for p in loops)
    unsaid = propose(films, proposer, "Which films did Steven Spielberg direct, Schindler's List?")
    for sp in unsaid:
        for c in sp.program.constraints:
            hops = getattr(c, "hops", ())
            assert not (len(hops) == 2 and hops[0][0] == hops[1][0] and hops[0][1] != hops[1][1])
