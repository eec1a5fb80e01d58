"""Typed programs over the graph: a chain, constraints, an operation (issue 20).

:class:`Program` is plain data; :func:`execute` runs it on a :class:`ProgramGraph`
(:class:`LocalProgramGraph` wraps one agent's graph) and returns a
:class:`ProgramResult` with its supporting facts; :func:`to_sparql` compiles it to the
query that returns the same answer from the store (:func:`read_answer` reads it). Names
load lazily, like the other subpackages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgagent._lazy import lazy_attributes

__all__ = [
    "Chain",
    "ClassConstraint",
    "EntityConstraint",
    "Item",
    "LocalProgramGraph",
    "Program",
    "ProgramError",
    "ProgramGraph",
    "ProgramResult",
    "ValueConstraint",
    "ValueOf",
    "ValueTable",
    "execute",
    "read_answer",
    "to_sparql",
]

_LAZY = {
    "Chain": "types",
    "ClassConstraint": "types",
    "EntityConstraint": "types",
    "Program": "types",
    "ProgramError": "types",
    "ValueConstraint": "types",
    "ValueOf": "types",
    "ValueTable": "values",
    "LocalProgramGraph": "graph",
    "ProgramGraph": "graph",
    "Item": "executor",
    "ProgramResult": "executor",
    "execute": "executor",
    "read_answer": "sparql",
    "to_sparql": "sparql",
}

if TYPE_CHECKING:
    from kgagent.programs.executor import Item, ProgramResult, execute
    from kgagent.programs.graph import LocalProgramGraph, ProgramGraph
    from kgagent.programs.sparql import read_answer, to_sparql
    from kgagent.programs.types import (
        Chain,
        ClassConstraint,
        EntityConstraint,
        Program,
        ProgramError,
        ValueConstraint,
        ValueOf,
    )
    from kgagent.programs.values import ValueTable

__getattr__ = lazy_attributes(__name__, {k: f"kgagent.programs.{v}" for k, v in _LAZY.items()})
