"""Materialized inference: RDFS or OWL 2 RL closure into a named graph of its own.

The closure is computed by owlrl (the reference Python implementation of both rule
sets) over a copy of the graph, and only the *new* triples are stored, in
``urn:kgagent:inferred:<profile>``. Keeping them apart means they can be dropped as a
unit (``kg.clear_inferences()``), re-computed after the data changes, and cited
differently from asserted facts.

Trivial consequences that every resource satisfies (``x a rdfs:Resource``,
``x owl:sameAs x``, ``C rdfs:subClassOf C``, ...) are left out by default: they add
no information, and as edges they would connect every entity to one hub, which ruins
graph walks and neighbourhood retrieval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS

from kgagent.errors import KGAgentError
from kgagent.kg.sources import INFERRED
from kgagent.kg.terms import nt, to_ox

if TYPE_CHECKING:
    from kgagent.kg.graph import KnowledgeGraph

__all__ = ["PROFILES", "ReasoningReport", "materialize"]

PROFILES = ("rdfs", "owlrl")

_TRIVIAL_OBJECTS = {RDFS.Resource, OWL.Thing, RDFS.Literal}
_REFLEXIVE = {
    OWL.sameAs,
    RDFS.subClassOf,
    RDFS.subPropertyOf,
    OWL.equivalentClass,
    OWL.equivalentProperty,
}
_META_TYPES = {RDF.Property, RDFS.Class, OWL.Class, RDFS.Datatype, OWL.ObjectProperty}
_RDF_NS = str(RDF)


@dataclass(frozen=True)
class ReasoningReport:
    profile: str
    graph: str
    inferred: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.profile}: {self.inferred:,} inferred triples in <{self.graph}> "
            f"({self.seconds:.2f}s)"
        )


def _is_trivial(s, p, o) -> bool:
    if isinstance(s, Literal):
        return True  # generalized RDF; not storable
    if isinstance(s, BNode) or isinstance(o, BNode):
        return False
    if o in _TRIVIAL_OBJECTS and p in (RDF.type, RDFS.subClassOf):
        return True
    if p in _REFLEXIVE and s == o:
        return True
    if p == RDF.type and o in _META_TYPES and str(s).startswith(_RDF_NS):
        return True  # rdf:_1 a rdf:Property and friends
    if p == RDF.type and o == RDFS.Datatype:
        return True
    if p == RDFS.subPropertyOf and o == RDFS.member:
        return True
    return bool(p == RDFS.subClassOf and o == RDFS.Literal)


def materialize(
    kg: KnowledgeGraph, *, profile: str = "rdfs", keep_trivial: bool = False
) -> ReasoningReport:
    """Computes the closure and stores the new triples as source ``inferred:<profile>``.

    Re-running replaces the previous inferences of that profile.
    """
    import owlrl

    if profile not in PROFILES:
        raise KGAgentError(f"unknown reasoning profile {profile!r}; choose one of {PROFILES}")
    t0 = time.perf_counter()
    graph_iri = f"{INFERRED}{profile}"
    for s in kg.sources():  # reason over asserted data only
        if s.kind == "inferred" and s.graph == graph_iri:
            kg.remove_source(s.graph)
    base = kg.to_rdflib()
    closure = Graph()
    for t in base:
        closure.add(t)
    semantics = owlrl.RDFS_Semantics if profile == "rdfs" else owlrl.OWLRL_Semantics
    owlrl.DeductiveClosure(
        semantics, axiomatic_triples=False, datatype_axioms=False, rdfs_closure=False
    ).expand(closure)
    lines = []
    for s, p, o in closure:
        if (s, p, o) in base:
            continue
        if not keep_trivial and _is_trivial(s, p, o):
            continue
        if not isinstance(p, URIRef):
            continue
        try:
            lines.append(f"{nt(to_ox(s))} {nt(to_ox(p))} {nt(to_ox(o))} .\n")
        except KGAgentError:
            continue  # e.g. ill-typed literals owlrl produced; not representable
    report = kg.add_inferred(
        "".join(lines).encode(), profile=profile, graph=graph_iri, name=f"inferred:{profile}"
    )
    return ReasoningReport(profile, graph_iri, report.triples, time.perf_counter() - t0)
