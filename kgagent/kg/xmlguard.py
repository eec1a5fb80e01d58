"""Refusing XML that would expand into far more than it holds (entity expansion).

Oxigraph's RDF/XML parser expands the internal entities of a DOCTYPE as it reads their
declarations. Nested entities grow geometrically: a 1.2 KB file declaring ``a`` as 100
characters and ``b``..``h`` as ten references to the previous one ("billion laughs")
makes one 10^9-character string — 16.8 s and 3.1 GB to load, ten times that with one
more level. RDF/XML is the only XML-based format kgagent reads (OWL/XML is refused by
:mod:`kgagent.kg.formats`; TriX is not supported), and every RDF/XML load goes through
:func:`check_entities` first.

The check reads the prolog with expat, which reports each declaration without expanding
the general entities inside it, works out how long every entity would be once expanded,
and counts the references the document makes to them. Declared entities stay usable for
what RDF/XML files use them for — short namespace abbreviations such as
``<!ENTITY owl "http://www.w3.org/2002/07/owl#">`` written by Protégé — while a file is
refused when:

- one entity would expand past :data:`MAX_ENTITY_CHARS`, or is nested deeper than
  :data:`MAX_DEPTH`, or refers to itself;
- all the expansions together (each declaration once, plus every reference) would add
  more than :data:`MIN_BUDGET_CHARS` or :data:`BUDGET_RATIO` times the file's size,
  whichever is larger, so memory stays proportional to the input;
- it declares parameter entities or external entities (``SYSTEM``/``PUBLIC``), which
  RDF has no use for and which are the other classic XML attacks.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgagent.errors import KGLoadError

__all__ = [
    "BUDGET_RATIO",
    "MAX_DEPTH",
    "MAX_ENTITY_CHARS",
    "MIN_BUDGET_CHARS",
    "Entity",
    "check_entities",
    "read_entities",
]

#: the longest any one entity may be once expanded (namespace IRIs are ~50)
MAX_ENTITY_CHARS = 64 * 1024
#: entities referring to entities referring to ... at most this deep
MAX_DEPTH = 32
#: expansions may always add this many characters in total ...
MIN_BUDGET_CHARS = 16 * 1024 * 1024
#: ... or this many times the (uncompressed) file's size, if that is more
BUDGET_RATIO = 10

_PREDEFINED = {"lt", "gt", "amp", "apos", "quot"}
_REF = re.compile(r"&([A-Za-z_:\u00C0-\uFFFF][\w.\-:\u00B7\u00C0-\uFFFF]*);")
_REF_BYTES = re.compile(rb"&([A-Za-z_:\x80-\xff][\w.\-:\x80-\xff]*);")
_CHUNK = 1 << 20
_PROLOG_NOISE = re.compile(rb"<\?.*?\?>|<!--.*?-->|<!\[CDATA\[.*?\]\]>", re.S)
_ELEMENT = re.compile(rb"<[A-Za-z_:\x80-\xff]")
_LONGEST_NAME = 1024  # a reference split across two chunks is found if its name is shorter


@dataclass(frozen=True)
class Entity:
    """One general entity declared in a DOCTYPE's internal subset."""

    name: str
    value: str
    line: int


class _Prolog(Exception):
    """Raised by the start-element handler: the prolog is over, the document begins."""


def _chunks(opener: Callable[[], Any]) -> Iterator[bytes]:
    with opener() as stream:
        if isinstance(stream, bytes):
            yield stream
            return
        while chunk := stream.read(_CHUNK):
            yield chunk


def read_entities(opener: Callable[[], Any], *, path: Path | None) -> tuple[list[Entity], int]:
    """The internal general entities the DOCTYPE declares, and the byte offset where the
    document's root element starts (0 when the prolog could not be read to its end).

    Raises:
        KGLoadError: a parameter or external entity, or a prolog that is not well-formed
            XML (with expat's line and column).
    """
    # the file was checked to be UTF-8 (kg.formats); an encoding="..." it declares must
    # not make expat refuse what Oxigraph reads
    parser = xml.parsers.expat.ParserCreate("utf-8")
    entities: list[Entity] = []
    root_at = 0
    skipped = lines_skipped = 0  # leading whitespace: Oxigraph reads past it, expat not

    def declared(name, is_parameter, value, _base, system_id, public_id, _notation):
        line = parser.CurrentLineNumber + lines_skipped
        if is_parameter:
            raise KGLoadError(
                f"the DOCTYPE declares a parameter entity (%{name};); RDF/XML has no use "
                "for them and kgagent refuses them",
                path=path,
                line=line,
            )
        if value is None or system_id is not None or public_id is not None:
            raise KGLoadError(
                f"the DOCTYPE declares an external entity &{name}; ({system_id or public_id}); "
                "kgagent never reads files or URLs an XML document points at",
                path=path,
                line=line,
            )
        entities.append(Entity(name, value, line))

    def started(*_args: object) -> None:
        nonlocal root_at
        root_at = parser.CurrentByteIndex + skipped
        raise _Prolog

    parser.EntityDeclHandler = declared
    parser.StartElementHandler = started
    try:
        begun = False
        for chunk in _chunks(opener):
            if not begun:
                text = chunk.lstrip(b"\xef\xbb\xbf \t\r\n")
                lines_skipped += chunk.count(b"\n", 0, len(chunk) - len(text))
                skipped += len(chunk) - len(text)
                if not text:
                    continue
                begun, chunk = True, text
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except _Prolog:
        pass
    except xml.parsers.expat.ExpatError as err:
        raise KGLoadError(
            f"invalid XML before the root element: {xml.parsers.expat.errors.messages[err.code]}",
            path=path,
            line=err.lineno + lines_skipped,
            column=err.offset + 1,
        ) from err
    return entities, root_at


def _declares_entities(opener: Callable[[], Any]) -> bool:
    """Whether a ``<!ENTITY`` may come before the root element (a cheap look first:
    most files have no DOCTYPE, and then the file is not read twice)."""
    head = b""
    for chunk in _chunks(opener):
        head += chunk
        text = _PROLOG_NOISE.sub(b"", head)
        root = _ELEMENT.search(text)
        if root is not None:
            return b"<!ENTITY" in text[: root.start()]
        if len(head) > _CHUNK:
            return True  # a prolog this long: let expat read it
    return b"<!ENTITY" in _PROLOG_NOISE.sub(b"", head)


def _expanded_sizes(entities: list[Entity], *, path: Path | None) -> dict[str, int]:
    """Characters each entity expands to; refuses one too long, too deep or circular."""
    # XML binds the first of two declarations of a name, a parser may take the last:
    # the longer expansion of the two is the one to bound
    declared: dict[str, list[Entity]] = {}
    for e in entities:
        declared.setdefault(e.name, []).append(e)
    sizes: dict[str, int] = {}

    def size(name: str, chain: tuple[str, ...]) -> int:
        if name not in sizes:
            sizes[name] = max(one(e, chain) for e in declared[name])
        return sizes[name]

    def one(entity: Entity, chain: tuple[str, ...]) -> int:
        name = entity.name
        if name in chain:
            raise KGLoadError(
                f"DOCTYPE entity &{name}; refers to itself ({' -> '.join((*chain, name))})",
                path=path,
                line=entity.line,
            )
        if len(chain) >= MAX_DEPTH:
            raise KGLoadError(
                f"DOCTYPE entities nested more than {MAX_DEPTH} deep ({' -> '.join(chain[:4])} "
                "...): refused as a possible entity-expansion attack",
                path=path,
                line=entity.line,
            )
        total = len(entity.value)
        for m in _REF.finditer(entity.value):
            ref = m.group(1)
            if ref in _PREDEFINED:
                total += 1 - len(m.group(0))
            elif ref in declared:
                total += size(ref, (*chain, name)) - len(m.group(0))
            if total > MAX_ENTITY_CHARS:
                raise KGLoadError(
                    f"DOCTYPE entity &{name}; expands to more than {MAX_ENTITY_CHARS:,} "
                    "characters: refused as a possible entity-expansion ('billion laughs') "
                    "attack",
                    path=path,
                    line=entity.line,
                )
        return total

    for e in entities:
        size(e.name, ())
    return sizes


def _reference_counts(
    opener: Callable[[], Any], start: int, names: set[bytes]
) -> tuple[Counter[bytes], int]:
    """References to ``names`` in the document from byte ``start`` on, and its size."""
    counts: Counter[bytes] = Counter()
    size = 0
    carry = b""  # the tail of the previous chunk, where a reference may have been cut
    for chunk in (*_chunks(opener), b""):
        size += len(chunk)
        buf = carry + chunk
        limit = max(len(buf) - _LONGEST_NAME, 0) if chunk else len(buf)
        offset = size - len(buf)  # of buf[0] in the document
        for m in _REF_BYTES.finditer(buf):
            if m.start() >= limit:
                break
            if offset + m.start() >= start and m.group(1) in names:
                counts[m.group(1)] += 1
        carry = buf[limit:]
    return counts, size


def check_entities(opener: Callable[[], Any], *, path: Path | None) -> None:
    """Refuses an XML document whose DOCTYPE entities would expand out of proportion.

    Args:
        opener: a zero-argument callable giving a context manager over the (decompressed)
            bytes, as :class:`~kgagent.kg.formats.ResolvedFile.open` does.
        path: the file, for the error message.

    Raises:
        KGLoadError: naming the file, the entity and the line of its declaration.
    """
    if not _declares_entities(opener):
        return
    entities, root_at = read_entities(opener, path=path)
    if not entities:
        return
    sizes = _expanded_sizes(entities, path=path)
    by_bytes = {e.name.encode("utf-8"): e.name for e in entities}
    counts, size = _reference_counts(opener, root_at, set(by_bytes))
    declared_total = sum(sizes[e.name] for e in entities)
    used_total = sum(sizes[by_bytes[name]] * n for name, n in counts.items())
    budget = max(MIN_BUDGET_CHARS, BUDGET_RATIO * size)
    if declared_total + used_total > budget:
        worst = max(counts, key=lambda n: sizes[by_bytes[n]] * counts[n], default=None)
        detail = (
            f"; &{by_bytes[worst]}; alone is used {counts[worst]:,} times"
            if worst is not None
            else ""
        )
        line = next(e.line for e in entities if worst is None or e.name == by_bytes[worst])
        raise KGLoadError(
            f"DOCTYPE entities would expand to {declared_total + used_total:,} characters "
            f"(limit {budget:,} for a file of {size:,} bytes){detail}: refused as a possible "
            "entity-expansion attack",
            path=path,
            line=line,
        )
