"""What kind of thing a chain reaches: the classes (rdf:type) of its answers.

A question often names the kind of its answers ("which *cities* are in X", "what
*films* did X star in", "*who* works for X"), and a typed graph says what kind each
entity is. A chain whose answers are of the named kind is the likelier reading; one whose
answers are of another kind the graph also offers is the unlikelier ("what is the country
of citizenship of X" is not answered by the cities of that country). The chain ranker
(:class:`~kgagent.pipeline.ranker.ChainRanker`) weighs this.

Where the answers have no class (a graph without rdf:type), their roles still say who
is a person: a thing the graph names as some film's "director" (the object of "directed
by") or "starred actor" is one, so "who is the director that directed X" is answered by
people, not by the director's films. Other untyped answers have no kind, but where
some chain reaches people so named, a "who" question counts them as no people. The
role itself tells people apart where the question names it ("who is the *screenwriter*
of": :func:`asked_roles`, matched to a relation's :func:`person_role` by
:func:`role_matches`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence

import numpy as np
from rdflib.namespace import RDF

from kgagent.synth.english import is_person_noun
from kgagent.text import STOP_WORDS, words

__all__ = ["WHO", "AnswerKinds", "Kind", "answer_phrase", "asked_nouns", "asked_roles", "asks_who",
           "names_kind", "person_role", "role_matches"]  # fmt: skip

_CACHE_MAX = 200_000  # nodes whose classes are kept


class Kind:
    """The kind of a chain's answers: the words of their class labels, and whether any of
    those classes is a kind of person (a "who" question asks for one)."""

    __slots__ = ("people", "words")

    def __init__(self, words: frozenset[str], people: bool) -> None:
        self.words = words
        self.people = people

    def __bool__(self) -> bool:
        return bool(self.words)


#: words that open the phrase saying what is asked for ("*which* films", "*name* the cities")
_ASKING = frozenset({"what", "which", "how", "name", "list"})
#: words that ask for a person
WHO = frozenset({"who", "whom", "whose", "whoever"})
_REACH = 3  # words after the asking word that may name the answer's kind
_LEAD = frozenset({"is", "are", "was", "were", "the", "a", "an"})  # before the asked noun
_COPULA = frozenset({"is", "are", "was", "were"})
_PLACE = frozenset({"where", "whence", "whither"})  # ask for a place, not a person
_OWNS = frozenset({"ne", "s"})  # the topic's mention (masked), and the possessive "'s"
_ENDS_GROUP = STOP_WORDS | _OWNS | WHO  # what ends the noun group asked for
#: words a relative "who" follows ("everything *whose* actors", "those who"); a person
#: noun does too ("the *person* who wrote X")
_ANTECEDENTS = frozenset({"everything", "anything", "something", "everyone", "anyone",
                          "someone", "everybody", "anybody", "somebody", "those", "one",
                          "ones", "thing", "things"})  # fmt: skip


def asks_who(question_words: Sequence[str], i: int) -> bool:
    """Whether the "who" word at ``i`` asks for a person, not opens a relative clause
    about one ("the person *who* wrote X", "everything *whose* actors include X"):
    "whose" asks only where it opens the question, "who" and "whom" unless they follow
    a person noun or a pronoun like "everything"."""
    w = question_words[i]
    if w not in WHO:
        return False
    if i == 0:
        return True
    if w == "whose":
        return False
    before = question_words[i - 1]
    return before not in _ANTECEDENTS and not is_person_noun(before)


def answer_phrase(question_words: Sequence[str]) -> tuple[list[str], bool]:
    """The words of a question that say what kind of answer it asks for, and whether it
    asks for a person.

    A class named elsewhere is on the way to the answer, not the answer: "who starred in
    *films* directed by X" asks for people, "which *cities* are in X" for cities. So the
    phrase is up to three words after the first asking word ("in which *city* was X
    born", "what is the *country* of X"), the first three where there is none ("*films*
    directed by X"), and empty after "who", which asks for a person."""
    for i, w in enumerate(question_words):
        if asks_who(question_words, i):
            return [], True
        if w in _ASKING:
            return list(question_words[i + 1 : i + 1 + _REACH]), False
    return list(question_words[:_REACH]), False


def asked_nouns(question_words: Sequence[str]) -> list[str]:
    """The words that name what a question asks for: right after its asking word
    ("which *other starred actors* does", "what is the *director* of"), or opening it
    ("the *sex* of X's heir", "show me the *starred actor* of"); "where" asks for a place.
    Empty where "who" comes first, and where the asking word is a verb's object ("which
    did NE write"); "what" there still asks for a thing, not a person: ``["what"]``
    ("what did NE write")."""
    rest, asked = list(question_words), None
    for i, w in enumerate(question_words):
        if asks_who(question_words, i):
            return []
        if w in _PLACE:
            return [w]
        if w in _ASKING:
            rest = rest[i + 1 :]
            asked = w
            break
    else:
        if len(rest) > 1 and rest[1] == "me":  # "show me", "tell me", "give me"
            rest = rest[2:]
    while rest and rest[0] in _LEAD:
        rest.pop(0)
    if rest[:2] == ["ne", "s"]:  # "ne": the topic's mention, masked
        rest = rest[2:]
    while True:  # "what is NE's child's nation": the last thing possessed
        group = list(itertools.takewhile(lambda x: x not in _ENDS_GROUP, rest))
        rest = rest[len(group) :]
        if not (group and rest[:1] == ["s"]):
            return group or (["what"] if asked == "what" else [])
        rest = rest[1:]


def asked_roles(question_words: Sequence[str]) -> list[str]:
    """The person nouns that say which people a question asks for: in the noun group it
    asks for ("which *actors*", "what is the *director* of"), else the first within a few
    words of an opening "who" and its copula ("who is listed as *screenwriter* of", "who
    was the *director* of"); empty where none does ("who directed X")."""
    found = [w for w in asked_nouns(question_words) if is_person_noun(w)]
    if found:
        return found
    for i in range(len(question_words)):
        if asks_who(question_words, i):
            if question_words[i + 1 : i + 2] and question_words[i + 1] in _COPULA:
                after = list(question_words[i + 2 : i + 3 + _REACH])
                if after[:2] == ["ne", "s"]:  # "who is NE's director"
                    after = after[2:]
                said = itertools.takewhile(lambda x: x not in _OWNS, after)
                return [w for w in said if is_person_noun(w)][:1]
            break
    return []


def role_matches(asked: str, role: str) -> bool:
    """Whether an asked person noun names a role: the same head noun, singular or plural,
    or one a compound ends with ("screenwriter": "writer"; "actors": "starred actor")."""
    from kgagent.synth.english import singular

    a = singular(asked.lower())
    parts = singular(role.lower()).split()
    head = parts[-1] if parts else ""
    return bool(head) and (a == head or (len(head) > 3 and a.endswith(head)))


def names_kind(phrase: Sequence[str], class_words: frozenset[str] | set[str]) -> set[str]:
    """The class words a phrase names as nouns: the word itself or its plural ("city",
    "cities"; "movie", "movies"), never another form ("filmed" does not name films)."""
    from kgagent.synth.english import singular

    said = set(phrase)
    return {w for w in class_words
            if w in said or f"{w}s" in said or f"{w}es" in said
            or any(singular(q) == w for q in said if q.startswith(w[:3]))}  # fmt: skip


_NONE = Kind(frozenset(), False)
_PEOPLE = Kind(frozenset(), True)  # untyped answers that the graph's roles call people


def person_role(text: str) -> str | None:
    """The person a relation read forwards names its object as: the agent of a passive
    verb ("directed by": "director") or a noun ("starred actors", "spouse"); None where
    its object is named as no person ("has genre", "directed", "is the genre of")."""
    from kgagent.synth.forms import hop_forms

    forms = hop_forms(text, inverse=False, kind="thing", multi=False)
    for noun in (forms.role, forms.noun):
        if is_person_noun(noun):
            return noun
    return None


class AnswerKinds:
    """The classes of answers, read through a graph view's rdf:type edges.

    Args:
        graph: a :class:`~kgagent.pipeline.graph.GraphView` (one graph or a team's).
        sample: answers of a chain whose classes are read (a chain's first answers say
            what kind of thing it reaches; reading thousands would cost more than it tells).
    """

    def __init__(self, graph, *, sample: int = 20) -> None:
        self.graph = graph
        self.sample = int(sample)
        key = f"<{RDF.type}>"
        terms = list(graph.relation_terms)
        self.action = terms.index(key) if key in terms else None  # forward rdf:type
        texts = list(getattr(graph, "relation_texts", None) or [])[: len(terms)]
        # (R,) whether a relation's objects are people by its reading ("directed by")
        self._person_role = np.array([person_role(t) is not None for t in texts], dtype=bool)
        self._nodes: dict[int, tuple[int, ...]] = {}  # node -> its class nodes
        self._classes: dict[int, tuple[frozenset[str], bool]] = {}  # class node -> stems
        self._roles: dict[int, bool] = {}  # untyped node -> whether a role names a person
        self._lock = threading.Lock()

    def of(self, answers: Sequence[tuple[str, str]]) -> Kind:
        """The kind of a chain's answers ((IRI or literal, label) pairs): empty where
        none of the first ``sample`` has a class (literals, an untyped graph) and most
        are not people by their roles."""
        nodes = [int(n) for n in (self.graph.node(a) for a, _ in answers[: self.sample])
                 if n is not None]  # fmt: skip
        classes = set()
        if self.action is not None:
            classes = {c for n in nodes for c in self._classes_of(n)}
        if not classes:
            people = sum(self._role_person(n) for n in nodes)
            return _PEOPLE if nodes and 2 * people > len(nodes) else _NONE
        found: set[str] = set()
        people = False
        for c in classes:
            w, p = self._class(c)
            found |= w
            people = people or p
        return Kind(frozenset(found), people)

    def _classes_of(self, node: int) -> tuple[int, ...]:
        found = self._nodes.get(node)
        if found is None:
            rels, tails = self.graph.out_edges(np.array([node], dtype=np.int64))
            found = tuple(int(t) for t in np.unique(tails[rels == self.action]))
            with self._lock:
                if len(self._nodes) > _CACHE_MAX:
                    self._nodes.clear()
                self._nodes[node] = found
        return found

    def _role_person(self, node: int) -> bool:
        """Whether an untyped node is the object of a relation that names a person."""
        found = self._roles.get(node)
        if found is None:
            found = False
            if self._person_role.any():
                R = len(self._person_role)
                rels, _ = self.graph.out_edges(np.array([node], dtype=np.int64))
                into = rels[(rels >= R) & (rels < 2 * R)] - R  # relations it is the object of
                found = bool(self._person_role[into].any())
            with self._lock:
                if len(self._roles) > _CACHE_MAX:
                    self._roles.clear()
                self._roles[node] = found
        return found

    def _class(self, node: int) -> tuple[frozenset[str], bool]:
        found = self._classes.get(node)
        if found is None:
            label = self.graph.entity_label(node)
            found = (frozenset(words(label)) - STOP_WORDS, is_person_noun(label))
            with self._lock:
                self._classes[node] = found
        return found
