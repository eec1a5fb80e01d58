"""The zero-shot chain ranker: which relation chain a question asks for, with no training.

Retrieval's own score of a chain (its link plus the *mean* relevance of its relations)
cannot tell "which films did X star in" from "who directed the films X starred in": both
chains are relevant on average, so the shorter one wins, and an untrained agent answers
the first hop of every multi-hop question. Signals that need no QA data fix that:

* **alignment** — each hop of the chain must be asked for by its own part of the question:
  every hop takes the word window (one to three words that start and end on content
  words, the topic's mention left out) its relation reads most like, or none, no two
  hops the same words, and each hop costs ``hop_cost``. A hop earns its place only where
  the question names it. English says a chain outwards from its topic ("the actors (3)
  in the films directed by (2) the director of (1) X"), so hops on the same side of the
  topic take windows in that order or pay ``order_penalty``: the same relations in
  another order ("the directors of the films the director of X starred in") read alike
  word by word. A relation that reads
  as a verb aligns by the better of its two voices ("who *wrote* X" names the hop X
  -written by-> person as well as "what did X write" names its inverse): the graph
  decides which way a hop walks, since from the topic it leads one way only.
  Where it leads both ways (a person "influenced by" people, "influenced" others), and
  for a relation named by a noun ("country" / "is the country of", which names its
  answers), each hop aligns by its own reading;
* **the chain's phrasing** — the encoder's similarity of the question (topic masked) to
  the chain read as a noun phrase, last hop first ("directed by of starred actors NE"),
  which captures what the word windows miss ("what kind of" reads like "genre");
* **shared relations** — a relation followed by its own inverse ("films that share
  actors with X") reuses one window, so it is only credible where the question says so
  with the English words of sharing ("same", "share", "also", "co-" ...): then one such
  loop is credited and its return hop, said by those words, pays no hop cost; elsewhere,
  and for a second loop in the same chain, a loop is penalized;
* **the expected answer type** — a question asking for a time ("when", "what year") is
  answered by years or dates; one naming a class of the graph ("which *cities* are in
  X") by a chain whose answers are of that class (:mod:`kgagent.pipeline.kinds`), and a
  "who" question ("which actors", "what is the director of") by people, where the graph
  says what kind each answer is: by its classes, or in an untyped graph by the roles it
  gives them (the object of "directed by" is a director). Where the question names the
  people's role ("who is listed as *screenwriter* of", "which *actors*"), the people a
  last hop names by another role ("starred actors" for a screenwriter) are the wrong
  ones: both are people, and only the role tells them apart. A question asking for another
  noun ("which *films* are about X", "*where*", "the *genre* of X") is not answered by
  people. A question asking for a kind ("what *kind of* film is X", "what *sort of*
  music") is answered by a category: a value many things share, read from the graph as
  the last relation's spread (:func:`kgagent.pipeline.graph.relation_spread`: film
  -genre-> gathers hundreds of films per genre, film -director-> about two).

The ranker adds these to retrieval's score of each candidate and re-ranks; the reader then
weighs the ranked candidates (its LLM score is the third signal the issue names).
Weights were chosen on MetaQA dev questions (bench/zeroshot.py) and checked on
PathQuestion and the movies ontology; ``type_weight`` on a generated typed graph (seed 1
of bench/_scale_graph.py) and checked on another (seed 0, bench/scale.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from kgagent.pipeline.kinds import (
    AnswerKinds,
    answer_phrase,
    asked_nouns,
    asked_roles,
    asks_who,
    names_kind,
    person_role,
    role_matches,
)
from kgagent.pipeline.vectors import TextVectors
from kgagent.synth.english import is_person_noun
from kgagent.text import STOP_WORDS, content_stems, strip_hints, words
from kgagent.types import Candidate

__all__ = ["SHARING_WORDS", "ChainRanker", "asks_kind", "asks_time",
           "fits_answer_type", "says_sharing"]  # fmt: skip

#: English words that say two things share a neighbour ("films that share actors with
#: X", "the same director as", "co-starred", "also wrote"). Not "other", "else" or
#: "another": they leave out what was named ("what else did X write" asks for X's other
#: films, not for X's co-writers) and open idioms ("X's other half" is X's spouse)
SHARING_WORDS = frozenset(["same", "share", "shares", "shared", "sharing", "also", "co",
                           "together", "both", "common", "fellow"])  # fmt: skip
#: phrases that ask for a time ("when was X released", "what year is X from"): the
#: expected answer type, matched against what a chain's answers are (years, dates)
TIME_QUESTIONS = (("when",), ("what", "year"), ("which", "year"), ("what", "date"),
                  ("which", "date"), ("what", "time"))  # fmt: skip
#: nouns that, asked for, ask for a time ("the release *years* of X's films")
TIME_NOUNS = frozenset(["year", "years", "date", "dates"])
#: English nouns that, before "of", ask for a kind ("what *kind of* film", "which *types
#: of* music"): the expected answer is a category
KIND_WORDS = frozenset(["kind", "kinds", "type", "types", "sort", "sorts", "category",
                        "categories"])  # fmt: skip
_NOT_A_KIND = frozenset(["name", "names"])  # "what is the name of X's wife" asks for her
_WHICH = frozenset(["what", "which"])  # before a kind word, they ask for a kind
_NEUTRAL_SPREAD = 10.0  # things per value at which a relation reads neither way
_YEAR = re.compile(r"^-?\d{4}$")  # a year as an answer's label (or a gYear's lexical form)
_DATE = re.compile(r"^-?\d{4}-\d{2}(-\d{2})?([T ].*)?$")  # a date or dateTime
_YEARS = (1000, 2100)  # a four-digit number in this range may be a year
_CACHE_MAX = 100_000  # windows and chain phrasings kept encoded
_MAX_ASSIGNMENTS = 1_000_000  # window assignments an alignment weighs at most


class ChainRanker:
    """Re-ranks answer candidates by how well their relation chain fits the question.

    Args:
        encoder: sentence encoder (unit vectors).
        relation_texts: (2R,) how each relation reads, forward then inverse.
        relation_vectors: (2R, d) the encoder's vectors of ``relation_texts``.
        lexical: weight of the stem overlap of a window and a relation beside the cosine.
        hop_cost: what each hop must earn in alignment.
        chain_weight: weight of the chain phrasing's similarity to the question.
        shared_weight: credit for one hop that walks back the relation it just walked
            where the question has sharing words (which also spare that hop its
            ``hop_cost``), and the penalty for every other such hop.
        time_weight: where the question asks for a time ("when", "what year"), credit to
            a chain whose answers are years or dates, and the same penalty to one whose
            answers are not (the expected answer type, read from the answers' values).
        kinds: the classes of a chain's answers (None: the graph's classes are not read).
        type_weight: where the question names a class some candidate's answers are of
            (or asks "who" and some candidate reaches people), credit to a chain whose
            answers are of it, and the same penalty to one whose answers are of another
            (for "who": are no people, classed or not, or people whose last hop names
            them by another role than the question does);
            where it asks for something else ("which films"), twice this off people.
        spread: ``(relation IRI, inverse) -> things per value`` of a hop in the graph
            (None: not read).
        kind_weight: where the question asks for a kind, up to this credit to a chain
            whose last hop gathers many things per value (a category), and up to the
            same penalty to one that gathers few: ``log10(spread / 10)``, clipped to ±1.
        window: longest word window a hop aligns to (inner words may be function words:
            "country of citizenship").
        retrieval_weight: weight of retrieval's own score of a chain, which already
            charges each extra hop (:func:`~kgagent.pipeline.proposers.chain_score`).
        link_weight: weight of how surely the question names the chain's topic (its
            linking score), beside the part of it retrieval's score carries: scaling
            retrieval down must not also silence the link ("which *words* describe
            Maid in Manhattan" names the film "The Words" only by a common word). The
            default keeps retrieval's link weight 0.5 whole beside ``retrieval_weight``
            0.25: 0.5 x 0.75.
        order_penalty: what a hop pays for taking a window farther from the topic than a
            later hop's on the same side of it (English says a chain outwards from its
            topic).
    """

    def __init__(
        self,
        encoder,
        relation_texts: Sequence[str],
        relation_vectors: np.ndarray,
        *,
        lexical: float = 0.5,
        hop_cost: float = 0.6,
        chain_weight: float = 1.0,
        shared_weight: float = 0.4,
        time_weight: float = 0.5,
        kinds: AnswerKinds | None = None,
        type_weight: float = 0.3,
        spread: Callable[[str, bool], float] | None = None,
        kind_weight: float = 0.5,
        window: int = 3,
        order_penalty: float = 0.6,
        retrieval_weight: float = 0.25,
        link_weight: float = 0.375,
    ) -> None:
        self.encoder = encoder
        self.lexical = float(lexical)
        self.hop_cost = float(hop_cost)
        self.chain_weight = float(chain_weight)
        self.shared_weight = float(shared_weight)
        self.time_weight = float(time_weight)
        self.kinds = kinds
        self.type_weight = float(type_weight)
        self.spread = spread
        self.kind_weight = float(kind_weight)
        self.window = int(window)
        self.order_penalty = float(order_penalty)
        self.retrieval_weight = float(retrieval_weight)
        self.link_weight = float(link_weight)
        vectors = np.asarray(relation_vectors, dtype=np.float32)  # (2R, d)
        self._rel: dict[str, tuple[np.ndarray, set[str]]] = {}
        for text, vec in zip(relation_texts, vectors, strict=True):
            self._rel.setdefault(text, (vec, content_stems(text)))
        half = len(relation_texts) // 2  # forward texts, then the inverse ones
        self._other: dict[str, str] = {}  # a verb's reading -> its other voice
        for fwd, inv in zip(relation_texts[:half], relation_texts[half:], strict=True):
            if _voiced(fwd, inv):
                self._other.setdefault(fwd, inv)
                self._other.setdefault(inv, fwd)
        self._vectors = TextVectors(encoder, max_items=_CACHE_MAX)  # windows, phrasings
        # a relation's reading -> the person it names its object as ("written by": writer)
        self._roles = {t: person_role(t) for t in self._rel}

    def rank(
        self,
        questions: Sequence[str],
        spans: Sequence[tuple[int, int] | None],
        pools: Sequence[Sequence[Candidate]],
    ) -> list[np.ndarray]:
        """Per question, (n,) new scores of its candidates (``pools[i]``).

        ``spans[i]``: the topic mention's character span in ``questions[i]`` (None: no
        topic), left out of the windows and masked in the question's phrasing.
        """
        masked, wins, pivots = [], [], []
        for q, span in zip(questions, spans, strict=True):
            if span is not None and 0 <= span[0] < span[1] <= len(q):
                pivot = len(words(q[: span[0]]))  # the topic sits before this word
                masked.append(strip_hints(f"{q[: span[0]]}NE{q[span[1] :]}"))
                wins.append(self._windows(f"{q[: span[0]]} , {q[span[1] :]}", pivot))
            else:
                pivot = None
                masked.append(strip_hints(q))
                wins.append(self._windows(q))
            pivots.append(pivot)
        vecs = self._encode(masked, [w for ws in wins for _, _, w in ws], pools)
        out = []
        for q, m, ws, pivot, pool in zip(questions, masked, wins, pivots, pools, strict=True):
            if not pool:
                out.append(np.zeros(0))
                continue
            scores = self._scores(q, vecs[m], ws, vecs, pool, pivot)
            out.append(scores + self._kind_fit(m, pool))
        return out

    # -- helpers --------------------------------------------------------------------------

    def _windows(self, text: str, pivot: int | None = None) -> list[tuple[int, int, str]]:
        """(first word, end word, text) of every window of 1..``window`` words that
        starts and ends on a content word (and does not reach across the topic, which
        sits before word ``pivot``)."""
        toks = words(text)
        out = []
        for n in range(1, self.window + 1):
            for i in range(len(toks) - n + 1):
                w = toks[i : i + n]
                if w[0] in STOP_WORDS or w[-1] in STOP_WORDS or w[0] == "ne":
                    continue
                if pivot is not None and i < pivot < i + n:
                    continue
                out.append((i, i + n, " ".join(w)))
        return out

    def _encode(self, masked, windows, pools) -> dict[str, np.ndarray]:
        """One encoder call for the questions and the windows and chain phrasings not seen
        before (windows and phrasings repeat across questions: they are cached)."""
        cached = {_phrase(c) for pool in pools for c in pool} | set(windows)
        return self._vectors.encode(cached, fresh=masked)

    def _scores(
        self, question, qvec, windows, vecs, pool: Sequence[Candidate], pivot: int | None = None
    ) -> np.ndarray:
        """(n,) retrieval's score plus alignment, phrasing and shared-relation terms."""
        toks = words(question)
        sharing = says_sharing(toks)
        timed_question = asks_time(toks)
        kind_question = self.spread is not None and self.kind_weight and asks_kind(toks)
        pairs = _pair_costs([(s, e) for s, e, _ in windows], pivot, self.order_penalty)
        wvec = np.stack([vecs[w] for _, _, w in windows]) if windows else None  # (W, d)
        wstems = [content_stems(w) for _, _, w in windows]
        # hops the graph walks both ways from the same place ("influenced by" between
        # people): there the question's voice says which way, so they align by their own
        keys = [_hop_keys(c) for c in pool]
        seen: dict[tuple, set[bool]] = {}
        for c, hop_keys in zip(pool, keys, strict=True):
            for key, inverse in zip(hop_keys, c.inverse, strict=True):
                seen.setdefault(key, set()).add(inverse)
        both = {key for key, ways in seen.items() if len(ways) == 2}
        out = np.empty(len(pool), dtype=np.float64)
        for i, c in enumerate(pool):
            k = c.hops
            align = 0.0
            if wvec is not None and k:
                sims = np.stack([self._hop_sims(t, wvec, wstems, either=key not in both)
                                 for t, key in zip(c.relation_labels, keys[i],
                                                   strict=True)])  # fmt: skip
                align = _best_alignment(sims, pairs)  # sims: (k, W)
            loops = sum(
                1
                for h in range(k - 1)
                if c.relations[h] == c.relations[h + 1] and c.inverse[h] != c.inverse[h + 1]
            )
            # sharing words license one loop ("films that share actors with X"): credited,
            # and its return hop, said by those words, pays no hop cost; any other loop
            # ("the directors of the films the director of X also directed") costs
            licensed = 1 if sharing and loops else 0
            shared = (self.shared_weight * (licensed - (loops - licensed))
                      + self.hop_cost * licensed)  # fmt: skip
            phrase = float(vecs[_phrase(c)] @ qvec) if k else 0.0
            timed = 0.0
            if timed_question and c.answers:
                timed = self.time_weight * (1.0 if _times(c) else -1.0)
            kind = self.kind_weight * self._category(c) if kind_question and k else 0.0
            out[i] = (self.retrieval_weight * c.score + self.link_weight * c.link
                      + align - self.hop_cost * k
                      + self.chain_weight * phrase + shared + timed + kind)  # fmt: skip
        return out

    def _kind_fit(self, masked: str, pool: Sequence[Candidate]) -> np.ndarray:
        """(n,) +``type_weight`` for a candidate whose answers are of the kind the question
        asks for, minus that for one whose answers are of another kind; 0 where the
        question names no kind that some candidate reaches."""
        out = np.zeros(len(pool), dtype=np.float64)
        if self.kinds is None or not self.type_weight:
            return out
        kinds = [self.kinds.of(c.answers) for c in pool]
        toks = words(masked)
        phrase, who = answer_phrase(toks)
        named = names_kind(phrase, set().union(*(k.words for k in kinds)))
        # "which actors", "what is the director of": a person noun is asked for; "which
        # films are about X", "what year": another noun is, and people are not the answer
        asked = asked_nouns(toks)
        person = any(is_person_noun(w) for w in asked)
        who = (who or (not named and person)) and any(k.people for k in kinds)
        if not (named or who):
            if asked and not person and _NOT_A_KIND.isdisjoint(asked):
                # the swing a typed "who" question makes between people and other
                # things, all of it on the people: the others keep their scores
                out[[k.people for k in kinds]] = -2 * self.type_weight
            return out
        said = _after_who(toks)
        fills = self._fills(pool, asked_roles(toks))
        for i, (k, c) in enumerate(zip(kinds, pool, strict=True)):
            if named and k:
                out[i] = self.type_weight if k.words & named else -self.type_weight
            elif not named and fills[i] is False:  # people, but not the ones named
                out[i] = -self.type_weight
            elif not named and k.people:  # untyped people have no class words
                out[i] = self.type_weight
            elif not named and not (k and c.hops and content_stems(c.relation_labels[-1]) & said):
                # no people: but "who published X" says the relation whose answers these
                # are right after "who", and where the graph classes them (publishers,
                # organizations) those answer it, people or not
                out[i] = -self.type_weight
        return out

    def _fills(self, pool: Sequence[Candidate], roles: Sequence[str]) -> list[bool | None]:
        """Per candidate, whether its answers fill the role a question names its people
        by ("who is the *screenwriter* of": the last hop names its answers "writer"):
        None where the question names no role some candidate fills, or the last hop
        names its answers as no person."""
        out: list[bool | None] = [None] * len(pool)
        if not roles:
            return out
        for i, c in enumerate(pool):
            if c.hops:
                text = c.relation_labels[-1]
                if text not in self._roles:  # a reading a view adds
                    self._roles[text] = person_role(text)
                role = self._roles[text]
                if role is not None:
                    out[i] = any(role_matches(a, role) for a in roles)
        return out if any(out) else [None] * len(pool)

    def _category(self, c: Candidate) -> float:
        """In [-1, 1], how much the chain's last hop gathers many things per value."""
        spread = self.spread(c.relations[-1], c.inverse[-1])
        return float(np.clip(np.log10(max(spread, 1e-3) / _NEUTRAL_SPREAD), -1.0, 1.0))

    def _hop_sims(
        self, text: str, wvec: np.ndarray, wstems: list[set[str]], *, either: bool = True
    ) -> np.ndarray:
        """(W,) how much each window reads like one hop's relation (``either``: by the
        better of its two voices)."""
        own = self._one_way(text, wvec, wstems)
        other = self._other.get(text) if either else None
        if other is None or other == text:
            return own
        return np.maximum(own, self._one_way(other, wvec, wstems))

    def _one_way(self, text: str, wvec: np.ndarray, wstems: list[set[str]]) -> np.ndarray:
        found = self._rel.get(text)  # every relation's phrasing, unless a view adds one
        vec, stems = found if found is not None else (None, content_stems(text))
        dense = wvec @ vec if vec is not None else np.zeros(len(wvec), dtype=np.float32)
        overlap = np.array(
            [len(stems & ws) / len(stems) if stems else 0.0 for ws in wstems], dtype=np.float32
        )
        return dense + self.lexical * overlap


def says_sharing(toks: Sequence[str]) -> bool:
    """Whether a question's words say two things share a neighbour ("films that share
    actors with X", "who starred together with X")."""
    return not SHARING_WORDS.isdisjoint(toks)


def asks_time(toks: Sequence[str]) -> bool:
    """Whether a question's words ask for a time: "when", "what year", or a year or date
    as the noun asked for ("what were the release *years* of", "in which *years*")."""
    said = any(tuple(toks[i : i + len(p)]) == p for p in TIME_QUESTIONS
               for i in range(len(toks)))  # fmt: skip
    return said or not TIME_NOUNS.isdisjoint(asked_nouns(toks))


def asks_kind(toks: Sequence[str]) -> bool:
    """Whether a question's words ask for a kind: "what *kind of* film is X", "*which
    types* are the films by X"."""
    padded = ["", *toks, ""]
    return any(padded[i] in KIND_WORDS and (padded[i + 1] == "of" or padded[i - 1] in _WHICH)
               for i in range(1, len(padded) - 1))  # fmt: skip


def fits_answer_type(question: str, c: Candidate) -> bool:
    """Whether a chain's answers are of the type the question asks for: a question
    asking for a time ("when was X released") is not answered by people or genres. Any
    chain fits a question that names no expected type."""
    return not (c.answers and asks_time(words(question)) and not _times(c))


def _after_who(toks: Sequence[str]) -> set[str]:
    """The stem of the first content word after an asking "who" ("who *published* X")."""
    for i in range(len(toks)):
        if asks_who(toks, i):
            rest = [t for t in toks[i + 1 :] if t not in STOP_WORDS and t != "ne"]
            return content_stems(rest[0]) if rest else set()
    return set()


def _times(c: Candidate) -> bool:
    """Whether a chain's answers are times: every label a year or a date."""
    for _, label in c.answers:
        text = label.strip()
        if _DATE.match(text):
            continue
        if not (_YEAR.match(text) and _YEARS[0] <= abs(int(text)) <= _YEARS[1]):
            return False
    return True


def _voiced(forward_text: str, inverse_text: str) -> bool:
    """Whether a relation reads as a verb, whose voice a question may turn ("directed by" /
    "directed", "starred actors" / "X starred in"), not as a noun that names its answers
    ("country" / "is the country of"). The verbalizer turns a verb's inverse into the
    active voice ("wrote"), a noun's into "is (one of) the ... of", and a relation it
    cannot turn into "is the object of ..." or "did the ... of"; a reading that opens
    with a participle ("starred", "located") is a verb's, whatever the inverse says."""
    fwd, inv = forward_text.lower().split(), inverse_text.lower().split()
    return bool(inv) and (inv[0] not in ("is", "did") or (bool(fwd) and fwd[0].endswith("ed")))


def _hop_keys(c: Candidate) -> list[tuple]:
    """Per hop, where it leaves from and what it walks, its direction left out."""
    return [(c.topic, c.relations[:h], c.inverse[:h], c.relations[h]) for h in range(c.hops)]


def _phrase(c: Candidate) -> str:
    """The chain as a noun phrase, last hop first: "directed by of starred actors NE"."""
    return " of ".join(reversed(c.relation_labels)) + " NE"


def _pair_costs(
    spans: Sequence[tuple[int, int]], pivot: int | None, order_penalty: float
) -> np.ndarray:
    """(W + 1, W + 1) what it costs that an earlier hop takes window i and a later hop
    window j (index W: no window): -inf where they share words, ``order_penalty`` where
    both lie on the same side of the topic (before word ``pivot``) and the earlier hop's
    is the farther one. English says a chain outwards from its topic: "the actors (3) in
    the films directed by (2) the director of (1) X", "X's (1) spouse's (2) nationality"."""
    W = len(spans)
    out = np.zeros((W + 1, W + 1), dtype=np.float64)
    if not W:
        return out
    a = np.array([s for s, _ in spans])
    b = np.array([e for _, e in spans])
    out[:W, :W] = np.where((a[:, None] < b[None, :]) & (a[None, :] < b[:, None]), -np.inf, 0.0)
    if pivot is not None and order_penalty:
        left = b <= pivot  # (W,) windows before the topic; the others lie after it
        dist = np.where(left, pivot - b, a - pivot)  # (W,) words between window and topic
        same = left[:, None] == left[None, :]
        out[:W, :W] -= np.where(same & (dist[:, None] > dist[None, :]), order_penalty, 0.0)
    return out


def _best_alignment(sims: np.ndarray, pairs: np.ndarray) -> float:
    """The best Σ over hops of the similarity of the window each hop takes (or none),
    no two hops sharing words, less what ``pairs`` charges each pair of hops for their
    order (:func:`_pair_costs`). Exhaustive over each hop's best windows: all of them
    for chains of up to 3 hops, fewer for longer ones (at most ~10^6 assignments)."""
    k, W = sims.shape
    keep = max(1, min(W, int(_MAX_ASSIGNMENTS ** (1 / k)) - 1))  # windows per hop
    options = []  # per hop, (m + 1,) window indices, the last W: no window
    for h in range(k):
        best = np.argsort(-sims[h], kind="stable")[:keep]
        options.append(np.append(best, W))
    total = np.zeros(())
    for h in range(k):
        gain = np.append(sims[h], 0.0)[options[h]]  # (m + 1,)
        total = total[..., None] + gain  # one axis per hop so far
        for g in range(h):  # what the pair (g, h) costs, broadcast on their two axes
            shape = [1] * (h + 1)
            shape[g], shape[h] = len(options[g]), len(options[h])
            total = total + pairs[np.ix_(options[g], options[h])].reshape(shape)
    return float(total.max())
