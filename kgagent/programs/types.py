"""Typed programs over a knowledge graph: a chain, constraints on its answers, an operation.

A question's candidate is a small program rather than a bare relation chain, so counts,
yes/no questions, constraints, superlatives, comparisons and values are all answered by
one executor (:func:`kgagent.programs.execute`) and explained by one SPARQL compiler
(:func:`kgagent.programs.to_sparql`), which must agree on every program.

The types are plain frozen data: they validate on construction (an IRI that could break
out of ``<...>``, an unknown operator, an unparseable value) so neither the executor nor
the compiler ever sees a malformed program, and they round-trip through JSON
(``to_dict`` / ``from_dict``) so proposers, caches and logs can store them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from kgagent.errors import KGAgentError
from kgagent.programs.values import parse_value

__all__ = [
    "COMPARISONS",
    "OPERATIONS",
    "Chain",
    "ClassConstraint",
    "Constraint",
    "EntityConstraint",
    "Program",
    "ProgramError",
    "ValueConstraint",
    "ValueOf",
    "check_iri",
]

#: what a program does with its answers, and the kind of result each gives
OPERATIONS = {
    "entities": "entities",
    "count": "number",
    "exists": "boolean",
    "argmax": "entities",
    "argmin": "entities",
    "compare": None,  # entities for order min/max, boolean for < / >
    "value": "value",
}
#: comparison operators of a value constraint
COMPARISONS = ("=", "<", "<=", ">", ">=")
#: compare: which of two entities has the smaller / larger value, or whether A < B / A > B
ORDERS = ("min", "max", "<", ">")
DOMAINS = ("number", "date")
MAX_CHAIN_HOPS = 4
MAX_CONSTRAINT_HOPS = 3
MAX_VALUE_CHARS = 200

# an absolute IRI that can be written as <iri> in SPARQL: no spaces, quotes, angle
# brackets, braces, pipes, carets, backticks, backslashes or control characters
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\x00-\x20<>\"{}|\\^`\x7f]*$")


class ProgramError(KGAgentError):
    """A program that is malformed: the message names the field (``chain.hops[1]``)."""


def check_iri(value: Any, where: str) -> str:
    """``value`` if it is an absolute IRI safe to write as ``<value>``, else ProgramError."""
    if not isinstance(value, str) or not _IRI.match(value):
        raise ProgramError(f"{where}: {value!r} is not an absolute IRI")
    return value


def _hops(value: Any, where: str, most: int) -> tuple[tuple[str, bool], ...]:
    """Hops as a tuple of (relation IRI, inverse) pairs, checked."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ProgramError(f"{where}: expected a list of (relation, inverse) hops")
    hops = []
    for i, hop in enumerate(value):
        if isinstance(hop, dict):
            hop = (hop.get("relation"), hop.get("inverse", False))
        if not (isinstance(hop, tuple | list) and len(hop) == 2):
            raise ProgramError(f"{where}[{i}]: expected (relation, inverse), got {hop!r}")
        rel, inv = hop
        if not isinstance(inv, bool):
            raise ProgramError(f"{where}[{i}].inverse: expected true or false, got {inv!r}")
        hops.append((check_iri(rel, f"{where}[{i}].relation"), inv))
    if not 1 <= len(hops) <= most:
        raise ProgramError(f"{where}: a chain has 1 to {most} hops, got {len(hops)}")
    return tuple(hops)


def _hops_dict(hops: tuple[tuple[str, bool], ...]) -> list[dict[str, Any]]:
    return [{"relation": r, "inverse": inv} for r, inv in hops]


@dataclass(frozen=True)
class Chain:
    """A relation chain from a topic entity; its answers are every node a walk reaches.

    A walk never revisits a node of its own path (so the topic is never an answer), as
    :func:`kgagent.pipeline.execute.execute_chain` walks.

    Attributes:
        topic: the start entity's IRI.
        hops: (relation IRI, inverse) per hop; inverse walks the relation object -> subject.
    """

    topic: str
    hops: tuple[tuple[str, bool], ...]

    def __post_init__(self) -> None:
        check_iri(self.topic, "chain.topic")
        object.__setattr__(self, "hops", _hops(self.hops, "chain.hops", MAX_CHAIN_HOPS))

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "hops": _hops_dict(self.hops)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chain:
        return cls(topic=data.get("topic"), hops=data.get("hops", ()))  # type: ignore[arg-type]


@dataclass(frozen=True)
class EntityConstraint:
    """The answer reaches ``anchor`` through ``hops`` (read from the answer's side):
    "films that star De Niro" is ``(starred_actors, False)`` to De Niro. The walk never
    revisits a node of its own path, so an answer is never the anchor itself."""

    anchor: str
    hops: tuple[tuple[str, bool], ...]
    kind: ClassVar[str] = "entity"

    def __post_init__(self) -> None:
        check_iri(self.anchor, "anchor")
        object.__setattr__(self, "hops", _hops(self.hops, "hops", MAX_CONSTRAINT_HOPS))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "anchor": self.anchor, "hops": _hops_dict(self.hops)}


@dataclass(frozen=True)
class ValueConstraint:
    """The answer has a value through ``relation`` that compares ``op`` to ``value``.

    ``value`` is text from the question ("1993", "7.5", "1994-05-01", "English"): a date
    compares with dates (day by day), a number with numbers, years (``xsd:gYear``,
    entities labelled "1993") and the year of dates; other text only with ``=``, against
    a literal's lexical form or an entity's label. It always reaches SPARQL as a binding.
    """

    relation: str
    op: str
    value: str
    inverse: bool = False
    kind: ClassVar[str] = "value"

    def __post_init__(self) -> None:
        check_iri(self.relation, "relation")
        if self.op not in COMPARISONS:
            raise ProgramError(f"op: {self.op!r} is not one of {', '.join(COMPARISONS)}")
        if isinstance(self.value, bool) or not isinstance(self.value, str | int | float):
            raise ProgramError(f"value: expected text or a number, got {self.value!r}")
        object.__setattr__(self, "value", str(self.value))
        if not self.value.strip() or len(self.value) > MAX_VALUE_CHARS:
            raise ProgramError(f"value: expected 1 to {MAX_VALUE_CHARS} characters")
        if not isinstance(self.inverse, bool):
            raise ProgramError(f"inverse: expected true or false, got {self.inverse!r}")
        if self.domain == "text" and self.op != "=":
            raise ProgramError(
                f"value: {self.value!r} is neither a number nor a date, so it can only be "
                f"matched with '=', not {self.op!r}"
            )

    @property
    def domain(self) -> str:
        """How values compare: "number", "date" or "text" (see the class docstring)."""
        return parse_value(self.value)[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "relation": self.relation,
            "inverse": self.inverse,
            "op": self.op,
            "value": self.value,
        }


@dataclass(frozen=True)
class ClassConstraint:
    """The answer is an instance of ``cls`` (rdf:type), or of one of its subclasses
    (rdfs:subClassOf*) when ``subclasses``."""

    cls: str
    subclasses: bool = True
    kind: ClassVar[str] = "class"

    def __post_init__(self) -> None:
        check_iri(self.cls, "cls")
        if not isinstance(self.subclasses, bool):
            raise ProgramError(f"subclasses: expected true or false, got {self.subclasses!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "cls": self.cls, "subclasses": self.subclasses}


Constraint = EntityConstraint | ValueConstraint | ClassConstraint
_CONSTRAINTS: dict[str, type] = {
    c.kind: c for c in (EntityConstraint, ValueConstraint, ClassConstraint)
}


@dataclass(frozen=True)
class ValueOf:
    """The value an operation orders by (argmax, argmin, compare): ``relation``'s values
    of an entity, compared as numbers (years of dates included) or as dates (day by day;
    numbers and years are then skipped)."""

    relation: str
    inverse: bool = False
    domain: str = "number"

    def __post_init__(self) -> None:
        check_iri(self.relation, "by.relation")
        if not isinstance(self.inverse, bool):
            raise ProgramError(f"by.inverse: expected true or false, got {self.inverse!r}")
        if self.domain not in DOMAINS:
            raise ProgramError(f"by.domain: {self.domain!r} is not one of {', '.join(DOMAINS)}")

    def to_dict(self) -> dict[str, Any]:
        return {"relation": self.relation, "inverse": self.inverse, "domain": self.domain}


@dataclass(frozen=True)
class Program:
    """A chain, constraints on its answers, and what to do with what is left.

    Operations (``op``):
        entities: the answers that pass every constraint.
        count: how many there are.
        exists: whether ``target`` is among them (no target: whether any is).
        argmax / argmin: those whose value ``by`` is the largest / smallest (all ties).
        compare: ``pair`` compared on ``by``: ``order`` "min" / "max" gives the entity
            with the smaller / larger value (both on a tie); "<" / ">" whether the first
            is smaller / larger than the second. An entity's value is its smallest (its
            largest for "max"). No chain.
        value: the values (literals or entities) the chain's last hop reaches.
    """

    op: str
    chain: Chain | None = None
    constraints: tuple[Constraint, ...] = ()
    target: str | None = None
    by: ValueOf | None = None
    pair: tuple[str, str] | None = None
    order: str | None = None
    _OPTIONAL: ClassVar[tuple[str, ...]] = ("target", "by", "pair", "order")

    def __post_init__(self) -> None:
        if self.op not in OPERATIONS:
            raise ProgramError(f"op: {self.op!r} is not one of {', '.join(OPERATIONS)}")
        object.__setattr__(self, "constraints", tuple(self.constraints))
        for i, c in enumerate(self.constraints):
            if not isinstance(c, EntityConstraint | ValueConstraint | ClassConstraint):
                raise ProgramError(f"constraints[{i}]: not a constraint: {c!r}")
        if self.pair is not None:
            object.__setattr__(self, "pair", tuple(self.pair))
        if self.target is not None:
            check_iri(self.target, "target")
        wanted = {
            "exists": {"target"},
            "argmax": {"by"},
            "argmin": {"by"},
            "compare": {"by", "pair", "order"},
        }.get(self.op, set())
        for name in self._OPTIONAL:
            if getattr(self, name) is not None and name not in wanted:
                raise ProgramError(f"{name}: not used by op {self.op!r}")
        if self.op in ("argmax", "argmin", "compare") and self.by is None:
            raise ProgramError(f"by: op {self.op!r} needs the value it orders by")
        if self.op == "compare":
            self._check_compare()
        elif self.chain is None:
            raise ProgramError(f"chain: op {self.op!r} needs a chain")
        if self.op == "value" and self.constraints:
            raise ProgramError("constraints: op 'value' reads values, it has no constraints")

    def _check_compare(self) -> None:
        if self.chain is not None or self.constraints:
            raise ProgramError("chain: op 'compare' compares two entities, it has no chain")
        if self.pair is None or len(self.pair) != 2:
            raise ProgramError("pair: op 'compare' needs two entities")
        for i, iri in enumerate(self.pair):
            check_iri(iri, f"pair[{i}]")
        if self.pair[0] == self.pair[1]:
            raise ProgramError("pair: the two entities are the same")
        if self.order not in ORDERS:
            raise ProgramError(f"order: {self.order!r} is not one of {', '.join(ORDERS)}")

    @property
    def kind(self) -> str:
        """The kind of the result: "entities", "number", "boolean" or "value"."""
        if self.op == "compare":
            return "entities" if self.order in ("min", "max") else "boolean"
        return OPERATIONS[self.op]  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op}
        if self.chain is not None:
            out["chain"] = self.chain.to_dict()
        if self.constraints:
            out["constraints"] = [c.to_dict() for c in self.constraints]
        if self.target is not None:
            out["target"] = self.target
        if self.by is not None:
            out["by"] = self.by.to_dict()
        if self.pair is not None:
            out["pair"] = list(self.pair)
        if self.order is not None:
            out["order"] = self.order
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Program:
        """A program from its ``to_dict`` form; ProgramError names the bad field."""
        if not isinstance(data, dict):
            raise ProgramError(f"program: expected an object, got {type(data).__name__}")
        known = {"op", "chain", "constraints", *cls._OPTIONAL}
        extra = sorted(set(data) - known)
        if extra:
            raise ProgramError(f"program.{extra[0]}: unknown field")
        chain = _nested("program.chain", data.get("chain"), Chain.from_dict)
        by = _nested("program.by", data.get("by"), lambda d: ValueOf(**_only(d, ValueOf)))
        constraints = []
        for i, c in enumerate(data.get("constraints") or ()):
            constraints.append(_nested(f"program.constraints[{i}]", c, _constraint))
        pair = data.get("pair")
        try:
            return cls(
                op=data.get("op"),  # type: ignore[arg-type]
                chain=chain,
                constraints=tuple(constraints),
                target=data.get("target"),
                by=by,
                pair=tuple(pair) if isinstance(pair, list | tuple) else pair,
                order=data.get("order"),
            )
        except ProgramError as exc:
            raise ProgramError(f"program.{exc}") from None


def _only(data: Any, kind: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``data``'s fields, checked against ``kind``'s (an unknown key is an error)."""
    if not isinstance(data, dict):
        raise ProgramError(f"expected an object, got {type(data).__name__}")
    names = {f.name for f in fields(kind)}
    extra = sorted(set(data) - names - set(skip))
    if extra:
        raise ProgramError(f"{extra[0]}: unknown field")
    return {k: v for k, v in data.items() if k not in skip}


def _constraint(data: Any) -> Constraint:
    if not isinstance(data, dict) or data.get("kind") not in _CONSTRAINTS:
        got = data.get("kind") if isinstance(data, dict) else data
        raise ProgramError(f"kind: {got!r} is not one of {', '.join(_CONSTRAINTS)}")
    kind = _CONSTRAINTS[data["kind"]]
    return kind(**_only(data, kind, skip=("kind",)))


def _nested(where: str, data: Any, build) -> Any:
    """``build(data)`` (None stays None), a ProgramError prefixed with ``where``."""
    if data is None:
        return None
    try:
        return build(data)
    except ProgramError as exc:
        msg = str(exc)
        for head in ("chain.", "by."):  # the part's own prefix, already in ``where``
            if msg.startswith(head):
                msg = msg[len(head) :]
        raise ProgramError(f"{where}.{msg}") from None
    except TypeError as exc:
        raise ProgramError(f"{where}: {exc}") from None
