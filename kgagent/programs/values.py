"""Comparable keys of graph values, defined once for the executor and the SPARQL compiler.

Values come as typed literals (``xsd:integer``, ``xsd:decimal``, ``xsd:double``,
``xsd:date``, ``xsd:dateTime``, ``xsd:gYear``, plain numeric strings, custom unit
datatypes) or as entities whose label is a number (MetaQA's years are entities "1993").
Each value gets a float key per domain, NaN where it has none:

- number: a literal or label whose lexical form is a decimal number (booleans excepted);
  a date, dateTime, gYear or gYearMonth gives its year, so "films of 1993" matches
  release dates in 1993;
- date: a date or dateTime gives ``year * 10000 + month * 100 + day`` (day order, negative
  years included; time of day and time zone are ignored);
- text: the lexical form or label itself, for ``=`` only.

Keys are computed from the lexical form with the regular expressions below, which the
SPARQL compiler writes into its queries verbatim (XPath syntax, ASCII digits), so the
store and the executor skip and order exactly the same values; nothing is ever ordered
as a string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdflib.namespace import XSD

__all__ = [
    "DATED_TYPES",
    "DATE_LEX",
    "NUMBER_LEX",
    "TEMPORAL_TYPES",
    "YEAR_LEX",
    "ValueTable",
    "date_key",
    "number_key",
    "parse_value",
]

#: a decimal number (XPath regex; the same as SPARQL's xsd:double lexical space, no INF)
NUMBER_LEX = "^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
#: the year at the start of a date, dateTime, gYear or gYearMonth ("$1" is the year)
YEAR_LEX = "^(-?[0-9]{4,})[^\\n\\r]*$"
#: year, month and day of a date or dateTime ("$1", "$2", "$3")
DATE_LEX = "^(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})[^\\n\\r]*$"
#: datatypes whose number key is their year
TEMPORAL_TYPES = tuple(str(x) for x in (XSD.date, XSD.dateTime, XSD.gYear, XSD.gYearMonth))
#: datatypes that have a date key
DATED_TYPES = tuple(str(x) for x in (XSD.date, XSD.dateTime))
BOOLEAN_TYPE = str(XSD.boolean)


def _python(pattern: str) -> re.Pattern[str]:
    """An XPath pattern for Python: ``$`` is the end of the text (Python's ``$`` also
    matches before a final newline, XPath's does not)."""
    return re.compile(pattern[:-1] + r"\Z")


_NUMBER = _python(NUMBER_LEX)
_YEAR = _python(YEAR_LEX)
_DATE = _python(DATE_LEX)


def number_key(text: str | None, datatype: str | None) -> float:
    """The number key of a value (NaN: none), as the compiled SPARQL computes it."""
    if text is None or datatype == BOOLEAN_TYPE:
        return float("nan")
    if datatype in TEMPORAL_TYPES:
        text = _YEAR.sub(r"\1", text)
    return float(text) if _NUMBER.match(text) else float("nan")


def date_key(text: str | None, datatype: str | None) -> float:
    """The date key of a date or dateTime (NaN for anything else)."""
    if text is None or datatype not in DATED_TYPES:
        return float("nan")
    m = _DATE.match(text)
    if m is None:
        return float("nan")
    return float(int(m[1]) * 10000 + int(m[2]) * 100 + int(m[3]))


def parse_value(value: str) -> tuple[str, float | str]:
    """(domain, key) of a value from a question: a date ("1994-05-01", day order), a
    number ("1993", "7.5"), or text (matched with ``=`` only)."""
    m = _DATE.match(value)
    if m is not None:
        return "date", float(int(m[1]) * 10000 + int(m[2]) * 100 + int(m[3]))
    if _NUMBER.match(value):
        return "number", float(value)
    return "text", value


@dataclass(frozen=True)
class ValueTable:
    """The values one relation (one direction) gives its holders, sorted by holder.

    A graph builds one per relation on first use and keeps it: the rows of a set of
    holders are then two ``searchsorted`` calls, and every comparison is vectorized.

    Attributes:
        holder: (k,) int64 node holding the value (the subject; the object if inverse).
        node: (k,) int64 the value's node, -1 for a literal.
        term: (k,) object the value's N-Triples term (what makes two values the same).
        text: (k,) object lexical form of a literal, label of an entity (None: neither).
        datatype: (k,) object a literal's datatype IRI (None: an entity, or no datatype).
        display: (k,) object what a person reads.
        number: (k,) float64 number key (NaN: none).
        date: (k,) float64 date key (NaN: none).
        ref: (k,) int64 the graph's reference to the fact behind the row.
    """

    holder: np.ndarray
    node: np.ndarray
    term: np.ndarray
    text: np.ndarray
    datatype: np.ndarray
    display: np.ndarray
    number: np.ndarray
    date: np.ndarray
    ref: np.ndarray

    @classmethod
    def build(
        cls,
        *,
        holder: np.ndarray,
        node: np.ndarray,
        term: Sequence[str],
        text: Sequence[str | None],
        datatype: Sequence[str | None],
        display: Sequence[str],
        ref: np.ndarray,
    ) -> ValueTable:
        """Keys computed once per distinct (text, datatype), rows sorted by holder."""
        pairs = list(zip(text, datatype, strict=True))
        keys: dict[tuple[str | None, str | None], tuple[float, float]] = {}
        for pair in pairs:
            if pair not in keys:
                keys[pair] = (number_key(*pair), date_key(*pair))
        both = np.array([keys[p] for p in pairs], dtype=np.float64).reshape(-1, 2)  # (k, 2)
        holder = np.asarray(holder, dtype=np.int64)
        order = np.argsort(holder, kind="stable")
        return cls(
            holder=holder[order],
            node=np.asarray(node, dtype=np.int64)[order],
            term=np.array(list(term), dtype=object)[order],
            text=np.array(list(text), dtype=object)[order],
            datatype=np.array(list(datatype), dtype=object)[order],
            display=np.array(list(display), dtype=object)[order],
            number=both[order, 0],
            date=both[order, 1],
            ref=np.asarray(ref, dtype=np.int64)[order],
        )

    @classmethod
    def empty(cls) -> ValueTable:
        none = np.zeros(0, dtype=np.int64)
        return cls.build(
            holder=none, node=none, term=[], text=[], datatype=[], display=[], ref=none
        )

    def __len__(self) -> int:
        return len(self.holder)

    def rows_of(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``nodes`` (n,), row (n,)) of every value of ``nodes``."""
        lo = np.searchsorted(self.holder, nodes, "left")  # (N,)
        hi = np.searchsorted(self.holder, nodes, "right")
        counts = hi - lo
        where = np.repeat(np.arange(len(nodes)), counts)  # (n,)
        first = np.cumsum(counts) - counts
        rows = lo[where] + np.arange(int(counts.sum())) - first[where]
        return where, rows

    def keys(self, domain: str) -> np.ndarray:
        """(k,) float64 keys of a domain ("number" or "date")."""
        return self.number if domain == "number" else self.date
