"""What each hop's answers are, what to call them, and which hops may follow which.

For every action (a relation read forwards or backwards) the lexicon decides, from the
graph alone:

* the answers' *kind*, which picks the question word: literal or numeric years and dates
  ("when", "what year"), numbers ("how many"), people ("who"), anything else ("which
  <noun>", "what");
* a *noun* for the answers: the label of their class (rdf:type, or the property's
  rdfs:range / rdfs:domain), else one the relation's own label gives ("has genre" ->
  genre, "won award" -> award), else none (the question says "what");
* its templates (:mod:`kgagent.synth.forms`, plus the verbalizer's ``kga:template`` and
  the property's own ``kga:question`` / ``kga:inverseQuestion``).

"Person-like" comes from the graph: a class whose label, or an ancestor's (rdfs:subClassOf),
names a person or agent; on an untyped graph, the relation's label ("directed by" names
an agent, "starred actors" people), spread to sides sharing most of their entities.

Chains must be type-consistent: a hop's answers must be the kind of thing the next hop
starts from. On a typed graph the two sides' classes (declared domains and ranges, or
observed types) must share a root of the class hierarchy; on an untyped graph the two
sides must share a real part of their entities, not a handful of accidental homonyms
(a genre named like a film).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from kgagent.kg.terms import iri_of
from kgagent.retrieval.verbalize import KGA
from kgagent.synth import english as en
from kgagent.synth.forms import Forms, hop_forms, with_templates

if TYPE_CHECKING:
    from kgagent.kg.ontology import Ontology
    from kgagent.retrieval.verbalize import Verbalizer
    from kgagent.synth.chains import ChainGraph

__all__ = ["INVERSE_QUESTION", "QUESTION", "Hop", "Lexicon"]

QUESTION = f"{KGA}question"
INVERSE_QUESTION = f"{KGA}inverseQuestion"
_PERSON_CLASSES = {"person", "people", "agent", "human", "individual", "human being"}
_SAMPLE = 400  # entities per side looked at for kinds and types
_MULTI = 1.2  # mean answers per anchor above which a relation is "multi-valued"


@dataclass(frozen=True)
class Hop:
    """One action as questions use it.

    Attributes:
        action: a < R forwards, a + R backwards.
        predicate: the relation's IRI.
        inverse: read from the object to the subject.
        kind: "person", "year", "date", "number" or "thing" (the answers).
        noun: the answers' common noun, singular ("film"), or None.
        multi: an anchor often has several answers.
        forms: the templates.
        asks: the property's ``kga:question`` templates (``{x}``: the anchor).
        classes: the answers' classes (declared or observed), for type checks.
        anchor_classes: the classes of what the hop starts from.
    """

    action: int
    predicate: str
    inverse: bool
    kind: str
    noun: str | None
    multi: bool
    forms: Forms
    asks: tuple[str, ...] = ()
    classes: frozenset[str] = frozenset()
    anchor_classes: frozenset[str] = frozenset()


class Lexicon:
    """The hops of a graph and the chains they may form.

    Args:
        graph: the chain graph.
        ontology: labels, classes, domains and ranges, annotations.
        verbalizer: sentence templates (explicit ``kga:template`` ones are used).
        relation_terms: (R,) predicate terms (N-Triples), as the graph numbers them.
    """

    def __init__(
        self,
        graph: ChainGraph,
        ontology: Ontology,
        verbalizer: Verbalizer,
        relation_terms: list[str],
    ) -> None:
        self.graph = graph
        self.ontology = ontology
        self.num_relations = R = graph.num_relations
        self.predicates = [iri_of(t) for t in relation_terms]
        self.cooccurrence = graph.cooccurrence()  # (2R, 2R)
        explicit = ontology.annotations.get(f"{KGA}template", {})
        self.hops: dict[int, Hop] = {}
        for a in range(2 * R):
            if graph.edge_count(a):
                self.hops[a] = self._hop(a, verbalizer, explicit)
        self._spread_persons()
        self.literal = {
            a for a in self.hops if a < R and self.graph.reached(a).min() >= graph.num_entities
        }

    # -- hops -----------------------------------------------------------------------------

    def _hop(self, a: int, verbalizer: Verbalizer, explicit: dict[str, str]) -> Hop:
        R, onto = self.num_relations, self.ontology
        inverse, iri = a >= R, self.predicates[a % R]
        nodes = _spread(self.graph.reached(a), _SAMPLE)
        entities = nodes[nodes < self.graph.num_entities]
        kind = en.value_kind([self.graph.node_label(int(x)) for x in nodes])
        declared = self._declared(iri, inverse)
        observed = self._observed(entities)
        cls = observed or (declared[0] if declared else None)
        noun = en.lower_label(onto.label(cls)) if cls else None
        multi = self.graph.fan_out(a) >= _MULTI
        values = self.graph.fan_out(a % R) >= _MULTI  # a subject often has several values
        label = onto.label(iri)
        forms = hop_forms(label, inverse=inverse, kind=kind, multi=values)
        if iri in explicit or forms.shape == "unknown":
            t = verbalizer.templates(iri)
            forms = with_templates(forms, t.forward, t.inverse, inverse=inverse)
        if kind == "thing":
            typed_person = cls is not None and self._person_class(cls)
            shape_person = not inverse and forms.shape in ("passive", "noun-by")
            named_person = en.is_person_noun(forms.role) or en.is_person_noun(forms.noun)
            if typed_person or (cls is None and (shape_person or named_person)):
                kind = "person"
        asks = onto.annotations.get(INVERSE_QUESTION if inverse else QUESTION, {}).get(iri)
        classes = frozenset([*declared, *([observed] if observed else [])])
        anchors = _spread(self.graph.side(a), _SAMPLE)
        seen = self._observed(anchors[anchors < self.graph.num_entities])
        anchor_classes = frozenset([*self._declared(iri, not inverse), *([seen] if seen else [])])
        return Hop(a, iri, inverse, kind, noun, multi, forms, _asks(asks, inverse), classes,
                   anchor_classes)  # fmt: skip

    def _declared(self, iri: str, inverse: bool) -> list[str]:
        """The property's declared ranges (domains when read backwards), inherited from
        its super-properties when it declares none."""
        onto = self.ontology
        for p in [iri, *onto.super_properties(iri)]:
            info = onto.properties.get(p)
            found = (info.domains if inverse else info.ranges) if info else []
            found = [c for c in found if c in onto.classes]
            if found:
                return found
        return []

    def _observed(self, entities: np.ndarray) -> str | None:
        """The most specific class covering 80% of the typed entities, if half are typed."""
        onto = self.ontology
        counts: Counter[str] = Counter()
        typed = 0
        for node in entities.tolist():
            term = self.graph.node_term(node)
            types = onto.types(term[1:-1]) if term.startswith("<") else []
            if types:
                typed += 1
                counts.update({c for t in types for c in (t, *onto.ancestors(t))})
        if not typed or typed < 0.5 * len(entities):
            return None
        common = [c for c, k in counts.items() if k >= 0.8 * typed and c in onto.classes]
        return max(common, key=lambda c: (len(onto.ancestors(c)), c)) if common else None

    def _person_class(self, cls: str) -> bool:
        onto = self.ontology
        return any(
            en.lower_label(onto.label(c)).lower() in _PERSON_CLASSES
            for c in (cls, *onto.ancestors(cls))
        )

    def _spread_persons(self) -> None:
        """Untyped "thing" sides that share most entities with a person side are people."""
        persons = [self._answer_side(a) for a, h in self.hops.items() if h.kind == "person"]
        sizes = np.diag(self.cooccurrence)
        for a, h in list(self.hops.items()):
            if h.kind != "thing" or h.noun:
                continue
            s = self._answer_side(a)
            if any(self.cooccurrence[s, t] >= 0.5 * min(sizes[s], sizes[t]) > 0 for t in persons):
                self.hops[a] = replace(h, kind="person")

    def _answer_side(self, a: int) -> int:
        """The side (an action whose anchors they are) of ``a``'s answers."""
        R = self.num_relations
        return (a + R) % (2 * R)

    # -- chains -----------------------------------------------------------------------------

    def reverses(self, a: int, b: int) -> bool:
        """Whether ``b`` walks back the way ``a`` came (its inverse, or an owl:inverseOf
        twin read the other way)."""
        R = self.num_relations
        back = self._answer_side(a)
        if b == back:
            return True
        onto = self.ontology
        pa, pb = self.predicates[a % R], self.predicates[b % R]
        info = onto.properties.get(pa)
        twins = set(info.inverse_of) if info else set()
        other = onto.properties.get(pb)
        if other and pa in other.inverse_of:
            twins.add(pb)
        return pb in twins and (a >= R) == (b >= R)

    def compatible(self, a: int, b: int) -> bool:
        """Whether ``b`` may follow ``a``: ``a``'s answers are what ``b`` starts from."""
        if a in self.literal or b not in self.hops:
            return False
        s, t = self._answer_side(a), b
        co = int(self.cooccurrence[s, t])
        if co == 0:
            return False
        left, right = self.hops[a].classes, self.hops[b].anchor_classes
        if left and right:
            return bool(self._roots(left) & self._roots(right))
        # untyped: the smaller side mostly inside the other (or a real share of the
        # larger one), never a few homonyms (3 genres named like films)
        m, big = sorted((int(self.cooccurrence[s, s]), int(self.cooccurrence[t, t])))
        return (co >= 0.5 * m and co >= min(3, m)) or (co >= 3 and co >= 0.02 * big)

    def _roots(self, classes: frozenset[str]) -> set[str]:
        onto = self.ontology
        out = set()
        for c in classes:
            chain = [c, *onto.ancestors(c)]
            out.update(x for x in chain if not (onto.classes.get(x) and onto.classes[x].parents))
        return out

    def shapes(self, max_hops: int, *, cap: int = 20000) -> dict[int, list[tuple[int, ...]]]:
        """Hop count -> the chains questions may ask: type-consistent, and walking back
        the way they came only where that reaches new answers ("films that share a
        director with X"), never twice in a row. At most ``cap`` per hop count (evenly
        spread over the list), so a schema of hundreds of relations stays quick."""
        hops = sorted(self.hops)
        out: dict[int, list[tuple[int, ...]]] = {1: [(a,) for a in hops]}
        nxt = {}
        for a in hops:  # only sides that share entities are worth a closer look
            meets = np.flatnonzero(self.cooccurrence[self._answer_side(a)] > 0).tolist()
            nxt[a] = [b for b in meets if self.compatible(a, b) and self._step_ok(a, b)]
        for k in range(2, max_hops + 1):
            chains = [
                (*chain, b)
                for chain in out[k - 1]
                for b in nxt[chain[-1]]
                if not (
                    k > 2 and self.reverses(chain[-2], chain[-1]) and self.reverses(chain[-1], b)
                )
            ]
            if len(chains) > cap:
                chains = [chains[i] for i in np.linspace(0, len(chains) - 1, cap).astype(int)]
            out[k] = chains
        return out

    def _step_ok(self, a: int, b: int) -> bool:
        """Walking back is asked only where an anchor often has several answers."""
        return not self.reverses(a, b) or self.hops[b].multi


def _spread(nodes: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` of ``nodes``, evenly spaced (deterministic)."""
    if len(nodes) <= k:
        return nodes
    return nodes[np.linspace(0, len(nodes) - 1, k).astype(np.int64)]


def _asks(value: str | None, inverse: bool) -> tuple[str, ...]:
    """A ``kga:question`` value as templates: ``{subject}`` (``{object}`` for
    ``kga:inverseQuestion``) becomes the anchor; alternatives are separated by ``||``."""
    if not value:
        return ()
    slot = "{object}" if inverse else "{subject}"
    out = []
    for part in value.split("||"):
        t = part.strip()
        if t.count(slot) == 1:
            out.append(t.replace("{", "{{").replace("}", "}}").replace("{" + slot + "}", "{x}"))
    return tuple(out)
