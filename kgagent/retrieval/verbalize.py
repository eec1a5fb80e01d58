"""Triples -> short English sentences, from the ontology's own labels.

``(Inception, directed by, Christopher Nolan)`` becomes "Inception was directed by
Christopher Nolan". A property can carry its own templates (``kga:template`` and
``kga:inverseTemplate`` annotations, with ``{subject}`` and ``{object}`` slots); other
relations are phrased from the *shape* of their label: passive ("directed by"),
possessive ("has genre"), prepositional ("in language"), nominal ("release year").
The inverse phrasing reads the edge backwards ("Christopher Nolan directed Inception"),
as a walk from the object needs.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rdflib.namespace import RDF as _RDF
from rdflib.namespace import RDFS as _RDFS
from rdflib.namespace import SKOS, XSD

from kgagent.text import past_tense

if TYPE_CHECKING:
    from kgagent.kg.ontology import Ontology

__all__ = ["KGA", "Verbalizer", "format_literal"]

KGA = "https://kgagent.dev/vocab#"
RDF_TYPE = str(_RDF.type)
RDFS = str(_RDFS)
_XSD = str(XSD)

_VERBS = {
    "knows", "likes", "loves", "owns", "contains", "includes", "influences", "follows",
    "uses", "produces", "employs", "borders", "precedes", "succeeds", "cites", "requires",
    "causes", "treats", "affects", "interacts",
}  # fmt: skip
_PREPOSITIONS = {"in", "of", "from", "at", "on", "for", "with", "to", "into", "about"}
_FIXED = {
    RDF_TYPE: ("{subject} is a {object}", "{object} is a class of {subject}"),
    f"{RDFS}subClassOf": ("{subject} is a kind of {object}", "{object} includes {subject}"),
    f"{RDFS}subPropertyOf": ("{subject} is a kind of {object}", "{object} includes {subject}"),
    f"{RDFS}domain": ("{subject} applies to {object}", "{object} can have {subject}"),
    f"{RDFS}range": ("{subject} has values of type {object}", "{object} is a value of {subject}"),
    f"{RDFS}comment": ("{subject} is described as: {object}", "{object} describes {subject}"),
    f"{RDFS}seeAlso": ("see also {object} for {subject}", "see also {subject} for {object}"),
}
#: labels of predicates that name things rather than state facts
NAME_PREDICATES = frozenset(
    {
        f"{RDFS}label",
        str(SKOS.prefLabel),
        str(SKOS.altLabel),
        str(SKOS.hiddenLabel),
    }
)


def format_literal(value: str, datatype: str | None = None, max_chars: int = 200) -> str:
    """A literal as a reader would write it (numbers plain, booleans as yes/no)."""
    text = value.strip()
    if datatype in (f"{_XSD}boolean",):
        return "yes" if text in ("true", "1") else "no"
    if datatype in (f"{_XSD}double", f"{_XSD}float", f"{_XSD}decimal"):
        try:
            num = float(text)
            return f"{num:g}"
        except ValueError:
            return text
    if datatype == f"{_XSD}dateTime" and "T" in text:
        return text.split("T")[0]
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


@dataclass(frozen=True)
class _Templates:
    forward: str
    inverse: str


class Verbalizer:
    """Phrases triples as sentences using an ontology's labels and templates.

    Args:
        ontology: supplies labels (``kg.ontology``).
        templates: property IRI -> (forward, inverse) templates overriding everything.
        lang: label language (default: the ontology's).
    """

    def __init__(
        self,
        ontology: Ontology,
        *,
        templates: dict[str, tuple[str, str]] | None = None,
        lang: str | None = None,
    ) -> None:
        self.ontology = ontology
        self.lang = lang
        self._templates: dict[str, _Templates] = {}
        for prop, fwd in getattr(ontology, "annotations", {}).get(f"{KGA}template", {}).items():
            inv = ontology.annotations.get(f"{KGA}inverseTemplate", {}).get(prop, fwd)
            self._templates[prop] = _Templates(fwd, inv)
        for prop, (fwd, inv) in (templates or {}).items():
            self._templates[prop] = _Templates(fwd, inv)

    def label(self, iri: str) -> str:
        return self.ontology.label(iri, lang=self.lang)

    def templates(self, predicate: str) -> _Templates:
        """The (forward, inverse) templates for a predicate, built once and cached."""
        t = self._templates.get(predicate)
        if t is None:
            fixed = _FIXED.get(predicate)
            t = _Templates(*fixed) if fixed else _from_label(self.label(predicate))
            self._templates[predicate] = t
        return t

    def sentence(self, subject: str, predicate: str, obj: str, *, inverse: bool = False) -> str:
        """The sentence for one triple; ``subject``/``obj`` are already labels."""
        t = self.templates(predicate)
        text = (t.inverse if inverse else t.forward).format(subject=subject, object=obj)
        return text[:1].upper() + text[1:]

    def sentences(
        self, subjects: Sequence[str], predicate: str, objects: Sequence[str]
    ) -> list[str]:
        """:meth:`sentence` for many triples of one predicate, built column-wise.

        Indexing phrases every fact of the graph; concatenating whole label columns
        (NumPy object arrays) is several times faster than formatting row by row.
        """
        parts = _slots(self.templates(predicate).forward)
        if parts is None:  # a user template with other fields: let str.format report it
            return [self.sentence(s, predicate, o) for s, o in zip(subjects, objects, strict=True)]
        columns = {
            "subject": np.asarray(subjects, dtype=object),
            "object": np.asarray(objects, dtype=object),
        }
        out = np.full(len(columns["subject"]), "", dtype=object)
        for literal, slot in parts:
            if literal:
                out = out + literal
            if slot is not None:
                out = out + columns[slot]
        return [text[:1].upper() + text[1:] for text in out.tolist()]


def _slots(template: str) -> list[tuple[str, str | None]] | None:
    """(literal text, slot name or None) pieces of a template; None if it has other fields."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        return None
    if any(f not in (None, "subject", "object") or spec or conv for _, f, spec, conv in parts):
        return None
    return [(lit, field) for lit, field, _, _ in parts]


def _from_label(label: str) -> _Templates:
    words = label.strip().split()
    low = [w.lower() for w in words]
    if not words:
        return _Templates("{subject} is related to {object}", "{object} is related to {subject}")
    rel = " ".join(words)
    if low[0] in ("is", "was", "are", "were"):
        # "is part of" -> inverse "X has part Y" is too clever; keep it readable
        return _Templates(
            f"{{subject}} {rel} {{object}}", f"{{object}} is the object of '{rel}' for {{subject}}"
        )
    if low[0] in ("has", "have"):
        noun = " ".join(words[1:]) or "value"
        return _Templates(
            f"{{subject}} has {noun} {{object}}", f"{{object}} is the {noun} of {{subject}}"
        )
    if low[-1] == "by" and len(words) >= 2:
        past = past_tense(low[0])
        verb_phrase = " ".join(words[:-1])
        if past is not None:
            active = " ".join([past, *words[1:-1]])
            return _Templates(
                f"{{subject}} was {verb_phrase} by {{object}}", f"{{object}} {active} {{subject}}"
            )
        return _Templates(
            f"{{subject}} has {rel} {{object}}", f"{{object}} did the {verb_phrase} of {{subject}}"
        )
    if low[0] in _PREPOSITIONS:
        noun = " ".join(words[1:]) or rel
        return _Templates(
            f"{{subject}} is {rel} {{object}}", f"{{object}} is the {noun} of {{subject}}"
        )
    plural = low[-1].endswith("s") and not low[-1].endswith("ss")
    if len(words) == 1 and not (low[0].endswith(("ed", "ing")) or low[0] in _VERBS):
        # a bare noun: "director", "genre", "spouse", "parents"
        return _noun(rel, plural=plural)
    if len(words) == 1:
        # a bare verb form: "starring", "directed", "knows"
        return _Templates(f"{{subject}} {rel} {{object}}", f"{{object}} ({rel}) {{subject}}")
    # a noun phrase: "release year", "starred actors", "imdb rating"
    return _noun(rel, plural=plural)


def _noun(rel: str, *, plural: bool) -> _Templates:
    if plural:
        return _Templates(
            f"The {rel} of {{subject}} include {{object}}",
            f"{{object}} is one of the {rel} of {{subject}}",
        )
    return _Templates(
        f"The {rel} of {{subject}} is {{object}}", f"{{object}} is the {rel} of {{subject}}"
    )
