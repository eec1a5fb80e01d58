"""The zero-shot chain ranker (hashing encoder: the signal is in shared words)."""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.pipeline.ranker import ChainRanker
from kgagent.retrieval.encoder import HashingEncoder
from kgagent.types import Candidate

STARRED, DIRECTED = "http://ex/starred_actors", "http://ex/directed_by"
TEXTS = ["starred actors", "directed by", "is one of the starred actors of", "directed"]


def cand(*hops: tuple[str, bool], score: float = 1.0) -> Candidate:
    """A candidate walking ``hops`` ((relation, inverse) each) from "Tom"."""
    label = {(STARRED, False): TEXTS[0], (DIRECTED, False): TEXTS[1],
             (STARRED, True): TEXTS[2], (DIRECTED, True): TEXTS[3]}  # fmt: skip
    return Candidate(
        topic="http://ex/tom",
        topic_label="Tom",
        relations=tuple(r for r, _ in hops),
        inverse=tuple(i for _, i in hops),
        relation_labels=tuple(label[h] for h in hops),
        answers=(("http://ex/a", "A"),),
        total=1,
        support=((),),
        score=score,
    )


@pytest.fixture(scope="module")
def ranker():
    enc = HashingEncoder()
    return ChainRanker(enc, TEXTS, enc.encode(TEXTS))


def best(ranker, question: str, pool: list[Candidate]) -> Candidate:
    start = question.index("Tom")
    [scores] = ranker.rank([question], [(start, start + 3)], [pool])
    assert scores.shape == (len(pool),) and np.isfinite(scores).all()
    return pool[int(np.argmax(scores))]


ONE = cand((STARRED, True))
TWO = cand((STARRED, True), (DIRECTED, False))
LOOP = cand((STARRED, True), (STARRED, False))


def test_a_hop_earns_its_place_only_where_the_question_asks_for_it(ranker):
    pool = [ONE, TWO]
    assert best(ranker, "who directed the films Tom starred in", pool) == TWO
    assert best(ranker, "which films starred Tom", pool) == ONE


def test_a_relation_and_its_inverse_need_words_of_sharing(ranker):
    pool = [ONE, LOOP]
    assert best(ranker, "which actors starred in the same films as Tom", pool) == LOOP
    assert best(ranker, "which films starred Tom", pool) == ONE


def test_retrieval_score_still_counts_and_empty_pools_are_fine(ranker):
    a, b = cand((STARRED, True), score=0.0), cand((STARRED, True), score=1.0)
    assert best(ranker, "which films starred Tom", [a, b]) is b
    out = ranker.rank(["which films starred Tom", "nothing here"], [(20, 23), None], [[a], []])
    assert len(out[0]) == 1 and len(out[1]) == 0


def test_a_surer_link_keeps_its_weight_beside_retrieval():
    """Retrieval's score weighs a quarter in the ranker; the link it carries must not
    shrink with it: "which *words* describe Tom" may name a film called "The Words",
    but by a common word, and a chain from it loses to the same chain from Tom."""
    import dataclasses

    enc = HashingEncoder()
    sure = dataclasses.replace(ONE, score=0.5, link=1.0)
    vague = dataclasses.replace(ONE, topic="http://ex/words", score=0.7, link=0.6)
    q = "which films starred Tom"
    for weight, winner in ((0.375, sure), (0.0, vague)):
        ranker = ChainRanker(enc, TEXTS, enc.encode(TEXTS), link_weight=weight)
        assert best(ranker, q, [vague, sure]) is winner


def test_windows_and_phrasings_are_cached_between_batches(ranker):
    best(ranker, "who directed the films Tom starred in", [ONE, TWO])
    n = len(ranker._vectors)
    best(ranker, "who directed the films Tom starred in", [TWO, ONE])
    assert len(ranker._vectors) == n


def test_a_question_asking_when_prefers_a_chain_whose_answers_are_times(ranker):
    """The expected answer type: "when" / "what year" ask for a time, so a chain that
    reaches years or dates beats one that reaches people, whatever the words align."""
    import dataclasses

    people = dataclasses.replace(ONE, answers=(("http://ex/a", "Ann Smith"),))
    years = dataclasses.replace(TWO, answers=(("http://ex/1994", "1994"), ("x", "1996-05-01")))
    assert best(ranker, "when did Tom come out", [people, years]) == years
    assert best(ranker, "what year is Tom from", [people, years]) == years
    assert best(ranker, "which films starred Tom", [people, years]) == people
    not_years = dataclasses.replace(years, answers=(("http://ex/3", "3"), ("x", "1994")))
    assert best(ranker, "when did Tom come out", [people, not_years]) == people


def test_a_question_asking_for_a_kind_prefers_a_chain_that_reaches_a_category():
    """A kind is a value many things share ("what kind of film is Tom"). A hop whose
    values each gather hundreds of things (a genre) beats one whose values gather two (a
    director), however the words align; without "kind of" the words decide."""
    from kgagent.pipeline.ranker import asks_kind

    genre, director = "http://ex/has_genre", "http://ex/directed_by"
    texts = ["has genre", "directed by"]
    spreads = {(genre, False): 500.0, (director, False): 2.0}
    enc = HashingEncoder()
    ranker = ChainRanker(enc, texts, enc.encode(texts), spread=lambda r, i: spreads[(r, i)])

    def hop(relation, label, score):
        return Candidate(topic="http://ex/tom", topic_label="Tom", relations=(relation,),
                         inverse=(False,), relation_labels=(label,),
                         answers=(("http://ex/a", "A"),), total=1, support=((),),
                         score=score)  # fmt: skip

    # retrieval prefers the director by more than the words of the question can undo
    by_genre, by_director = hop(genre, "has genre", 0.0), hop(director, "directed by", 0.3)
    assert best(ranker, "what kind of film is Tom", [by_genre, by_director]) is by_genre
    assert best(ranker, "what sort of film is Tom", [by_genre, by_director]) is by_genre
    assert best(ranker, "what film is Tom", [by_genre, by_director]) is by_director
    assert asks_kind(["which", "types", "of", "music"]) and not asks_kind(["kind", "people"])
    # a ranker given no spreads reads no kinds
    plain = ChainRanker(enc, texts, enc.encode(texts))
    assert best(plain, "what kind of film is Tom", [by_genre, by_director]) is by_director


def test_a_relation_aligns_by_either_reading_the_graph_decides_the_direction():
    """ "who wrote Tom" names the hop Tom -written by-> person by its other reading
    ("wrote"): the one hop that answers it beats a detour whose second hop walks the
    reading the verb matches word for word."""
    written, directed = "http://ex/written_by", "http://ex/directed_by"
    texts = ["written by", "directed by", "wrote", "directed"]  # forward, then inverse
    enc = HashingEncoder()
    ranker = ChainRanker(enc, texts, enc.encode(texts))
    label = {(written, False): "written by", (directed, False): "directed by",
             (written, True): "wrote", (directed, True): "directed"}  # fmt: skip

    def walk(*hops):
        return Candidate(topic="http://ex/tom", topic_label="Tom",
                         relations=tuple(r for r, _ in hops), inverse=tuple(i for _, i in hops),
                         relation_labels=tuple(label[h] for h in hops),
                         answers=(("http://ex/a", "A"),), total=1, support=((),))  # fmt: skip

    one, detour = walk((written, False)), walk((directed, False), (written, True))
    assert best(ranker, "who wrote Tom", [detour, one]) is one
    assert best(ranker, "what did the director of Tom write", [one, detour]) is detour


def test_sharing_words_license_one_loop_said_once():
    """ "who starred together with Tom": the sharing word says the way back, so the loop
    beats the films Tom starred in though the relation is named once; a second loop is
    never licensed."""
    double = cand((STARRED, True), (STARRED, False), (STARRED, True))
    ranker = ChainRanker(HashingEncoder(), TEXTS, HashingEncoder().encode(TEXTS))
    assert best(ranker, "who starred together with Tom", [ONE, LOOP]) is LOOP
    assert best(ranker, "which actors starred in the same films as Tom", [double, LOOP]) is LOOP
    assert best(ranker, "who starred with Tom", [ONE, LOOP]) is ONE
    # "else" leaves out what was named: Tom's other films, not his co-stars
    assert best(ranker, "what else did Tom star in", [LOOP, ONE]) is ONE


def test_a_kind_word_after_what_or_which_asks_for_a_kind():
    from kgagent.pipeline.ranker import asks_kind

    assert asks_kind(["what", "types", "are", "the", "films", "by", "tom"])
    assert asks_kind(["which", "kind", "is", "tom"])
    assert not asks_kind(["who", "is", "that", "type"]) and not asks_kind([])


def test_where_the_graph_walks_a_relation_both_ways_the_voice_decides():
    """Between people, a relation read "taught by" / "mentored" (a template's two
    voices) leaves a person both ways, so the graph does not say which way "who was
    mentored by Tom" walks: there each hop aligns by its own reading, though retrieval
    prefers the other. (A noun's readings, "country" / "is the country of", never take
    each other's: tests/pipeline/test_kinds.py.)"""
    infl = "http://ex/taught_by"
    texts = ["taught by", "mentored"]
    enc = HashingEncoder()
    ranker = ChainRanker(enc, texts, enc.encode(texts))
    label = {(infl, False): "taught by", (infl, True): "mentored"}

    def walk(*hops, score=1.0):
        return Candidate(topic="http://ex/tom", topic_label="Tom",
                         relations=tuple(r for r, _ in hops), inverse=tuple(i for _, i in hops),
                         relation_labels=tuple(label[h] for h in hops),
                         answers=(("http://ex/a", "A"),), total=1, support=((),),
                         score=score)  # fmt: skip

    by, of = walk((infl, False), score=1.8), walk((infl, True), score=1.0)
    assert best(ranker, "who was mentored by Tom", [by, of]) is of


def test_a_chain_is_said_outwards_from_its_topic():
    """The same two relations in either order align equally well word by word; English
    says the first hop nearest the topic ("who directed the films starring Tom": Tom's
    films, then their directors), so the order decides."""
    enc = HashingEncoder()
    ranker = ChainRanker(enc, TEXTS, enc.encode(TEXTS))
    directors_of_his_films = cand((STARRED, True), (DIRECTED, False))
    actors_of_his_films = cand((DIRECTED, True), (STARRED, False))
    pool = [directors_of_his_films, actors_of_his_films]
    q = "who directed the films starring Tom"
    assert best(ranker, q, pool) is directors_of_his_films
    assert best(ranker, q, pool[::-1]) is directors_of_his_films
    q = "who starred in the films directed by Tom"
    assert best(ranker, q, pool) is actors_of_his_films
    assert best(ranker, q, pool[::-1]) is actors_of_his_films


def test_an_alignment_weighs_every_assignment_of_windows_to_hops():
    from kgagent.pipeline.ranker import _best_alignment, _pair_costs

    # windows: words [0, 1) and [1, 2) before the topic (word 3), [4, 5) after it
    spans = [(0, 1), (1, 2), (4, 5)]
    pairs = _pair_costs(spans, 3, order_penalty=1.0)
    assert pairs[0, 1] == -1.0 and pairs[1, 0] == 0.0  # the first hop nearer the topic
    assert pairs[0, 2] == 0.0 and pairs[2, 0] == 0.0  # other sides: any order
    assert pairs[3].tolist() == [0.0] * 4  # index 3: no window
    sims = np.array([[0.9, 0.8, 0.0], [0.9, 0.1, 0.0]])  # (k=2, W=3)
    # both hops want word 0; the first then takes word 1 (nearer the topic) and pays
    # nothing, where greedy order would have paid the penalty or left a hop out
    assert _best_alignment(sims, pairs) == pytest.approx(1.7)
    overlapping = _pair_costs([(0, 2), (1, 2)], None, order_penalty=1.0)
    assert np.isneginf(overlapping[0, 1]) and np.isneginf(overlapping[1, 0])
    assert _best_alignment(np.array([[0.5, 0.4], [0.6, 0.3]]), overlapping) == pytest.approx(0.6)
    long = np.full((5, 3), 0.1)  # longer chains weigh each hop's best windows
    assert _best_alignment(long, _pair_costs(spans, 3, order_penalty=1.0)) == pytest.approx(0.3)


def test_a_window_may_hold_a_function_word_inside_a_relation_name():
    """ "country of citizenship" is one relation said in three words: one hop takes them
    all, so the one hop gains on a detour that splits the words between two hops."""
    enc = HashingEncoder()
    texts = ["country of citizenship", "is the country of", "is the country of citizenship of",
             "country"]  # fmt: skip

    def walk(*labels):
        return Candidate(topic="http://ex/tom", topic_label="Tom",
                         relations=tuple(f"http://ex/{t[:4]}" for t in labels),
                         inverse=tuple(t.startswith("is ") for t in labels),
                         relation_labels=labels, answers=(("http://ex/a", "A"),), total=1,
                         support=((),))  # fmt: skip

    one, two = walk("country of citizenship"), walk("country of citizenship", "is the country of")
    q = "what is the country of citizenship of Tom"
    lead = {}
    for window in (2, 3):
        ranker = ChainRanker(enc, texts, enc.encode(texts), window=window)
        [scores] = ranker.rank([q], [(q.index("Tom"), len(q))], [[one, two]])
        lead[window] = scores[0] - scores[1]
    assert "country of citizenship" in [w for _, _, w in ranker._windows(q)]
    assert lead[3] > lead[2] + 0.1


def test_a_year_or_date_asked_for_asks_for_a_time():
    from kgagent.pipeline.ranker import asks_time
    from kgagent.text import words

    assert asks_time(words("what were the release years of the films NE wrote"))
    assert asks_time(words("the films directed by NE were released in which years"))
    assert asks_time(words("what year was NE released")) and asks_time(words("when was NE made"))
    assert not asks_time(words("which films came out the same year as NE"))
    assert not asks_time(words("who directed NE"))
