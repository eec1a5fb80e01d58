"""Turning files into something the store can ingest, with errors that point at the line.

RDF files are parsed by Oxigraph (fast, streaming); its syntax errors carry line and
column, which are passed on. RDF/XML errors from Oxigraph carry no position, so the file
is re-scanned with expat to find where it stops being well-formed.

Delimited triple files (MetaQA ``head|relation|tail``, tab-separated link-prediction
splits) are converted to N-Triples: entities and relations get stable IRIs minted from
their names, and ``rdfs:label`` triples keep the original names for linking and for
verbalizing facts.
"""

from __future__ import annotations

import gzip
import re
import xml.parsers.expat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from rdflib.namespace import RDF, RDFS

from kgagent.errors import KGLoadError

__all__ = [
    "DEFAULT_BASE_IRI",
    "DelimitedTriples",
    "entity_iri",
    "humanize",
    "read_delimited",
    "relation_iri",
    "syntax_error",
]

DEFAULT_BASE_IRI = "http://kgagent.local/kg/"
RDFS_LABEL = f"<{RDFS.label}>"
RDF_TYPE = f"<{RDF.type}>"
RDF_PROPERTY = f"<{RDF.Property}>"

_POSITION = re.compile(
    r"^Parser error (?:at line \d+ (?:column \d+|between columns \d+ and \d+)"
    r"|between line \d+ column \d+ and line \d+ column \d+): "
)


#: formats whose parser also reads the content of the formats listed (no hint then)
_READS_ALSO = {
    "turtle": {"ntriples"},
    "trig": {"ntriples", "nquads", "turtle"},
    "n3": {"ntriples", "turtle"},
    "nquads": {"ntriples"},
}


def syntax_error(
    exc: SyntaxError,
    *,
    path: Path | None,
    fmt_name: str,
    opener=None,
    sniffed: str | None = None,
) -> KGLoadError:
    """A KGLoadError from a parser SyntaxError, with the best position we can find.

    Args:
        sniffed: what the content looks like (:attr:`ResolvedFile.sniffed`); when that is
            another format, the message says so — a ``.ttl`` file holding RDF/XML fails on
            its first ``<`` with "Invalid IRI code point", which does not say what is wrong.
    """
    reason = _POSITION.sub("", str(exc.msg or exc))
    line, column = exc.lineno, exc.offset
    if line is None and fmt_name == "xml" and opener is not None:
        line, column, xml_reason = _xml_position(opener)
        if xml_reason:
            reason = f"{reason} (XML: {xml_reason})"
        elif line is None:
            line = _doctype_line(opener, reason)
    if sniffed and sniffed != fmt_name and sniffed not in _READS_ALSO.get(fmt_name, ()):
        from kgagent.kg.formats import FORMAT_TITLES

        title = FORMAT_TITLES.get(fmt_name, fmt_name)
        if sniffed == "delimited":
            reason += (
                f"; the content looks like a delimited triple file, not {title} "
                "(use load_triples(); CLI: `kgagent load WS FILE --sep '|'`)"
            )
        elif sniffed in FORMAT_TITLES:
            reason += (
                f"; the content looks like {FORMAT_TITLES[sniffed]}, not {title} "
                f"(pass format={sniffed!r}, CLI --format {sniffed}, or fix the extension)"
            )
    return KGLoadError(f"invalid {fmt_name}: {reason}", path=path, line=line, column=column)


def _xml_position(opener) -> tuple[int | None, int | None, str | None]:
    parser = xml.parsers.expat.ParserCreate()
    try:
        with opener() as fh:
            if isinstance(fh, bytes):
                parser.Parse(fh, True)
            else:
                parser.ParseFile(fh)
    except xml.parsers.expat.ExpatError as err:
        return err.lineno, err.offset + 1, xml.parsers.expat.errors.messages[err.code]
    except (OSError, EOFError):
        pass
    return None, None, None


_UNKNOWN_ENTITY = re.compile(r"unrecognized entity `([^`]+)`")
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+(?:%\s+)?\S+\s+(?P<q>['\"])?")
_DOCTYPE_SCAN = 4 << 20


def _doctype_line(opener, reason: str) -> int | None:
    """The line a DOCTYPE complaint of Oxigraph's is about, which expat found no fault with
    (Oxigraph's RDF/XML parser accepts less than XML does, and reports no position).

    An unknown entity: its first reference. An entity declaration: the first one whose
    value is not in double quotes (the form Oxigraph reads), else the first one. Anything
    else about the DOCTYPE: its first line.
    """
    try:
        with opener() as fh:
            head = fh[:_DOCTYPE_SCAN] if isinstance(fh, bytes) else fh.read(_DOCTYPE_SCAN)
    except (OSError, EOFError):
        return None
    at: int = -1
    unknown = _UNKNOWN_ENTITY.search(reason)
    if unknown:
        at = head.find(b"&" + unknown.group(1).encode("utf-8") + b";")
    elif "ENTITY" in reason or "entity" in reason:
        decls = list(_ENTITY_DECL.finditer(head))
        odd = [m for m in decls if m.group("q") != b'"']
        at = (odd or decls)[0].start() if decls else -1
    if at < 0 and "DOCTYPE" in reason.upper():
        at = head.find(b"<!DOCTYPE")
    return head.count(b"\n", 0, at) + 1 if at >= 0 else None


def _escape_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")


def humanize(name: str) -> str:
    """``directed_by`` -> ``directed by``; ``releaseYear`` -> ``release year``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    text = re.sub(r"[_\-.]+", " ", text)
    return re.sub(r"\s+", " ", text).strip().lower() if text != text.upper() else text.strip()


def entity_iri(base_iri: str, name: str) -> str:
    return f"{base_iri}entity/{quote(name, safe='')}"


def relation_iri(base_iri: str, name: str) -> str:
    return f"{base_iri}relation/{quote(name, safe='')}"


def _detect_sep(line: str, path: Path, lineno: int) -> str:
    for sep in ("\t", "|", ","):
        if sep in line:
            return sep
    raise KGLoadError(
        "cannot detect the separator (no tab, '|' or ','); pass sep=...", path=path, line=lineno
    )


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _check_utf8(line: str, path: Path, lineno: int) -> None:
    """Refuses a line read with ``surrogateescape`` that held bytes UTF-8 can't decode."""
    bad = _UNDECODABLE.search(line)
    if bad is not None:
        byte = ord(bad.group()) - 0xDC00
        raise KGLoadError(
            f"not UTF-8 text (byte 0x{byte:02x}); delimited files must be UTF-8",
            path=path,
            line=lineno,
            column=bad.start() + 1,
        )


@dataclass
class DelimitedTriples:
    """The N-Triples made from a delimited file, and what was read."""

    ntriples: bytes
    facts: int
    entities: int
    relations: int
    sep: str


def read_delimited(
    path: str | Path,
    *,
    sep: str | None = None,
    base_iri: str | None = None,
) -> DelimitedTriples:
    """Reads ``head<sep>relation<sep>tail`` lines into N-Triples.

    Blank lines and lines starting with ``#`` are skipped. With a tab separator, empty
    fields from doubled tabs are ignored (some PathQuestion files use them).

    Raises:
        KGLoadError: naming the file and line of a malformed row.
    """
    p = Path(path)
    if not p.exists():
        raise KGLoadError("no such file", path=p)
    if p.stat().st_size == 0:
        raise KGLoadError("empty file (0 bytes): nothing to load", path=p)
    base = base_iri or DEFAULT_BASE_IRI
    if base[-1] not in "/#:":
        base += "/"
    with open(p, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    ent_iris: dict[str, str] = {}
    rel_iris: dict[str, str] = {}
    out: list[str] = []
    facts = 0
    try:
        # undecodable bytes become lone surrogates, so the line they are on is known
        with opener(p, "rt", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            for lineno, raw in enumerate(fh, 1):
                line = raw.rstrip("\r\n")
                if not line.isascii():
                    _check_utf8(line, p, lineno)
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                if "\x00" in line:
                    raise KGLoadError("binary content (NUL byte)", path=p, line=lineno)
                if sep is None:
                    sep = _detect_sep(line, p, lineno)
                fields = line.split(sep)
                if len(fields) != 3 and sep == "\t":
                    fields = [f for f in fields if f.strip()]
                if len(fields) != 3:
                    raise KGLoadError(
                        f"expected 3 fields (head{sep}relation{sep}tail) separated by {sep!r}, "
                        f"found {len(fields)}: {line[:120]!r}",
                        path=p,
                        line=lineno,
                    )
                h, r, t = (f.strip() for f in fields)
                if not h or not r or not t:
                    which = ("head", "relation", "tail")[[h, r, t].index("")]
                    raise KGLoadError(f"empty {which} field", path=p, line=lineno)
                hi = ent_iris.get(h)
                if hi is None:
                    hi = ent_iris[h] = f"<{entity_iri(base, h)}>"
                    out.append(f'{hi} {RDFS_LABEL} "{_escape_literal(h)}" .\n')
                ti = ent_iris.get(t)
                if ti is None:
                    ti = ent_iris[t] = f"<{entity_iri(base, t)}>"
                    out.append(f'{ti} {RDFS_LABEL} "{_escape_literal(t)}" .\n')
                ri = rel_iris.get(r)
                if ri is None:
                    ri = rel_iris[r] = f"<{relation_iri(base, r)}>"
                    out.append(f"{ri} {RDF_TYPE} {RDF_PROPERTY} .\n")
                    out.append(f'{ri} {RDFS_LABEL} "{_escape_literal(humanize(r))}" .\n')
                out.append(f"{hi} {ri} {ti} .\n")
                facts += 1
    except (OSError, EOFError) as exc:
        raise KGLoadError(f"cannot read: {exc}", path=p) from exc
    if facts == 0:
        raise KGLoadError("no triples found (only blank or comment lines)", path=p)
    return DelimitedTriples(
        ntriples="".join(out).encode("utf-8"),
        facts=facts,
        entities=len(ent_iris),
        relations=len(rel_iris),
        sep=sep or "",
    )
