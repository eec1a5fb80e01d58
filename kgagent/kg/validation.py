"""SHACL validation (pyshacl) with a report people can read.

Shapes can be a file in any RDF format kgagent loads, an rdflib Graph, or another
KnowledgeGraph. Results name the focus node and the property path by their labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rdflib import Graph, URIRef
from rdflib.namespace import RDF, SH

from kgagent.errors import KGLoadError, ShapeValidationError

if TYPE_CHECKING:
    from kgagent.kg.graph import KnowledgeGraph

__all__ = ["ValidationReport", "ValidationResult", "validate"]

_INFERENCE = ("none", "rdfs", "owlrl", "both")


@dataclass(frozen=True)
class ValidationResult:
    severity: str  # Violation | Warning | Info
    focus_node: str
    path: str | None
    value: str | None
    message: str
    shape: str | None
    constraint: str | None


@dataclass
class ValidationReport:
    conforms: bool
    results: list[ValidationResult] = field(default_factory=list)
    text: str = ""
    _labels: dict[str, str] = field(default_factory=dict, repr=False)

    def __bool__(self) -> bool:
        return self.conforms

    @property
    def violations(self) -> list[ValidationResult]:
        return [r for r in self.results if r.severity == "Violation"]

    def __str__(self) -> str:
        return self.render()

    def render(self, clean: Callable[[str], str] = str) -> str:
        """The report as lines for people; ``clean`` is applied to every field that comes
        from the graph or the shapes (the CLI passes its terminal escaping)."""
        if self.conforms:
            return "conforms: no SHACL violations"
        lab = self._labels
        lines = [
            f"does not conform: {len(self.violations)} violation(s), {len(self.results)} result(s)"
        ]
        for r in self.results:
            focus = clean(lab.get(r.focus_node, r.focus_node))
            path = f" {clean(lab.get(r.path, r.path))}" if r.path else ""
            value = f" (value: {clean(r.value)})" if r.value else ""
            lines.append(f"  [{clean(r.severity)}] {focus} ->{path}: {clean(r.message)}{value}")
        return "\n".join(lines)


def _shapes_graph(shapes: Any) -> Graph:
    from kgagent.kg.graph import KnowledgeGraph

    if isinstance(shapes, Graph):
        return shapes
    if isinstance(shapes, KnowledgeGraph):
        return shapes.to_rdflib()
    if isinstance(shapes, str | Path):
        # parse through kgagent so bad shapes files get the same file:line errors
        from kgagent.kg.graph import KnowledgeGraph as KG

        tmp = KG()
        try:
            tmp.load(shapes)
            return tmp.to_rdflib()
        finally:
            tmp.close()
    raise ShapeValidationError(
        f"shapes must be a file path, rdflib.Graph or KnowledgeGraph, not {type(shapes).__name__}"
    )


def validate(kg: KnowledgeGraph, shapes: Any, *, inference: str = "none") -> ValidationReport:
    """Runs SHACL validation of the whole graph against ``shapes``.

    Args:
        inference: "none", "rdfs", "owlrl" or "both" — applied by pyshacl to a copy of
            the data before validating (the graph itself is not changed).
    """
    import pyshacl

    if inference not in _INFERENCE:
        raise ShapeValidationError(f"inference must be one of {_INFERENCE}, not {inference!r}")
    try:
        sg = _shapes_graph(shapes)
    except KGLoadError:
        raise
    if (
        not any(sg.triples((None, RDF.type, SH.NodeShape)))
        and not any(sg.triples((None, RDF.type, SH.PropertyShape)))
        and not any(sg.triples((None, SH.targetClass, None)))
    ):
        raise ShapeValidationError(
            f"{shapes}: no SHACL shapes found (no sh:NodeShape / sh:PropertyShape)"
        )
    data = kg.to_rdflib()
    conforms, results_graph, text = pyshacl.validate(
        data,
        shacl_graph=sg,
        inference=inference,
        abort_on_first=False,
        allow_warnings=True,
        meta_shacl=False,
        advanced=True,
    )
    results = []
    labels: dict[str, str] = {}
    for node in results_graph.subjects(RDF.type, SH.ValidationResult):

        def one(pred, node=node):
            v = results_graph.value(node, pred)
            return None if v is None else str(v)

        sev = one(SH.resultSeverity) or str(SH.Violation)
        results.append(
            ValidationResult(
                severity=sev.rsplit("#", 1)[-1],
                focus_node=one(SH.focusNode) or "",
                path=one(SH.resultPath),
                value=one(SH.value),
                message=one(SH.resultMessage) or "constraint violated",
                shape=one(SH.sourceShape),
                constraint=(one(SH.sourceConstraintComponent) or "").rsplit("#", 1)[-1] or None,
            )
        )
    results.sort(key=lambda r: (r.severity != "Violation", r.focus_node, r.path or ""))
    if results:
        onto = kg.ontology
        for r in results:
            for x in (r.focus_node, r.path):
                if x and x not in labels:
                    labels[x] = (
                        onto.label(URIRef(x)) if x.startswith(("http", "urn", "file")) else x
                    )
    return ValidationReport(conforms=bool(conforms), results=results, text=text, _labels=labels)
