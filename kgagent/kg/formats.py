"""Recognising what a file is before handing it to a parser.

Formats come from an explicit name, the extension, or the content. The content checks
also catch the inputs that are not RDF at all — binary files, empty files, OWL/XML
(which shares ``.owl`` with RDF/XML), OBO — and say so instead of a confusing parse error.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from kgagent.errors import KGLoadError

__all__ = [
    "FORMATS",
    "FORMAT_TITLES",
    "ResolvedFile",
    "resolve_file",
    "resolve_format",
    "supported_formats",
]

# canonical name -> (pyoxigraph format, aliases incl. extensions and media types)
FORMATS: dict[str, tuple[ox.RdfFormat, tuple[str, ...]]] = {
    "turtle": (ox.RdfFormat.TURTLE, ("ttl", "turtle", "text/turtle")),
    "ntriples": (
        ox.RdfFormat.N_TRIPLES,
        ("nt", "n-triples", "ntriples", "nt11", "application/n-triples"),
    ),
    "nquads": (ox.RdfFormat.N_QUADS, ("nq", "n-quads", "nquads", "application/n-quads")),
    "trig": (ox.RdfFormat.TRIG, ("trig", "application/trig")),
    "xml": (
        ox.RdfFormat.RDF_XML,
        ("rdf", "owl", "xml", "rdfxml", "rdf/xml", "rdf+xml", "application/rdf+xml"),
    ),
    "json-ld": (
        ox.RdfFormat.JSON_LD,
        ("jsonld", "json-ld", "json", "application/ld+json"),
    ),
    "n3": (ox.RdfFormat.N3, ("n3", "text/n3")),
}
#: how a format is called in messages (the keys of FORMATS, and what sniffing finds)
FORMAT_TITLES = {
    "turtle": "Turtle",
    "ntriples": "N-Triples",
    "nquads": "N-Quads",
    "trig": "TriG",
    "xml": "RDF/XML",
    "json-ld": "JSON-LD",
    "n3": "N3",
    "owl-xml": "OWL/XML",
    "delimited": "a delimited triple file",
}
_ALIASES = {alias: name for name, (_, aliases) in FORMATS.items() for alias in (name, *aliases)}
_NOT_RDF_EXT = {
    "obo": (
        "OBO flat-file format, not RDF; convert it first (e.g. `robot convert -i x.obo -o x.owl`)"
    ),
    "omn": "OWL Manchester syntax, not RDF; convert it to Turtle or RDF/XML first",
    "ofn": "OWL functional syntax, not RDF; convert it to Turtle or RDF/XML first",
    "owx": "OWL/XML, not RDF/XML; convert it to RDF/XML or Turtle first",
    "csv": "a delimited file, not RDF; use load_triples() / `kgagent load --sep`",
    "tsv": "a delimited file, not RDF; use load_triples() / `kgagent load --sep`",
}
_SNIFF_BYTES = 65536


def supported_formats() -> str:
    """A readable list of accepted format names and extensions."""
    return ", ".join(f"{name} (.{aliases[0]})" for name, (_, aliases) in FORMATS.items())


def resolve_format(name: str) -> tuple[str, ox.RdfFormat]:
    """Canonical name and parser format for a user-given format name or alias."""
    key = name.strip().lower().lstrip(".")
    if key in _ALIASES:
        canonical = _ALIASES[key]
        return canonical, FORMATS[canonical][0]
    raise KGLoadError(f"unknown format {name!r}; supported: {supported_formats()}")


@dataclass(frozen=True)
class ResolvedFile:
    """A file ready to parse: its format and whether it is gzip-compressed."""

    path: Path
    format_name: str
    format: ox.RdfFormat
    gzipped: bool
    #: what the content looks like ("turtle", "xml", "delimited", ...; None: unclear), for
    #: an error that says so when the file does not parse as ``format_name``
    sniffed: str | None = None

    def open(self):
        """A binary stream of the (decompressed) content."""
        return gzip.open(self.path, "rb") if self.gzipped else open(self.path, "rb")


def _head(path: Path, gzipped: bool) -> bytes:
    if not gzipped:
        with open(path, "rb") as fh:
            return fh.read(_SNIFF_BYTES)
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(_SNIFF_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise KGLoadError(f"not a valid gzip file ({exc})", path=path) from exc


_OWL_XML_ROOT = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?Ontology\b[^>]*xmlns(?::\w+)?=\"http://www\.w3\.org/2002/07/owl#\""
)
_RDF_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?RDF\b")
_NT_LINE = re.compile(
    rb"^\s*(<[^>]*>|_:\S+)\s+<[^>]*>\s+(<[^>]*>|_:\S+|\"(?:[^\"\\]|\\.)*\"(?:@[\w-]+|\^\^<[^>]*>)?)\s*(<[^>]*>|_:\S+)?\s*\.\s*(#.*)?$"
)


def _first_element(head: bytes) -> bytes:
    """The first XML start tag after the prolog, comments and doctype."""
    text = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(\[.*?\])?\s*>", b"", head, flags=re.S)
    # a tag name, then attributes or the end of the tag: not an IRI such as <http://x>
    m = re.search(rb"<[A-Za-z_][\w.:-]*(?:\s[^>]*)?/?>", text)
    return m.group(0) if m else b""


def _check_text(path: Path, head: bytes) -> None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise KGLoadError("UTF-16 encoded; RDF files must be UTF-8 (re-encode it)", path=path)
    # NUL is legal inside RDF literals (W3C tests use it), but text is never mostly NULs
    if head.count(b"\x00") > max(8, len(head) // 100):
        raise KGLoadError("binary file, not RDF text (it is full of NUL bytes)", path=path)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte char cut by the sniff window
            line = head[: exc.start].count(b"\n") + 1
            raise KGLoadError(
                f"binary or not UTF-8 text (byte 0x{head[exc.start]:02x} at offset "
                f"{exc.start}); RDF files must be UTF-8 text",
                path=path,
                line=line,
            ) from exc


def _sniff(path: Path, head: bytes) -> str | None:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    lines = [
        ln for ln in text.splitlines()[:200] if ln.strip() and not ln.lstrip().startswith(b"#")
    ]
    if lines and all(_NT_LINE.match(ln) for ln in lines[:-1] or lines):
        quads = any((m := _NT_LINE.match(ln)) is not None and m.group(3) for ln in lines)
        return "nquads" if quads else "ntriples"
    if text.startswith(b"<"):
        root = _first_element(text)
        if _OWL_XML_ROOT.search(root):
            return "owl-xml"
        if _RDF_ROOT.search(root) or root:
            return "xml"
    if text.startswith(b"{") or text.startswith(b"["):
        return "json-ld"
    if not lines:
        return None
    if re.search(rb"^\s*(@prefix|@base|PREFIX|BASE)\b", text, flags=re.M | re.I):
        if re.search(rb"=>|@forAll|@forSome", text):
            return "n3"
        if re.search(rb"^\s*(GRAPH\s+)?(<[^>]*>|[\w-]*:[\w-]*)\s*\{", text, flags=re.M):
            return "trig"
        return "turtle"
    first = lines[0]
    if b"\t" in first or b"|" in first:
        return "delimited"
    return None


def resolve_file(path: str | Path, format: str | None = None) -> ResolvedFile:
    """Checks that ``path`` is a readable RDF file and works out its format.

    Raises:
        KGLoadError: missing/unreadable/empty/binary file, unknown format, or a file that
            is recognisably not RDF (OWL/XML, OBO, delimited text).
    """
    p = Path(path)
    if not p.exists():
        raise KGLoadError("no such file", path=p)
    if p.is_dir():
        raise KGLoadError("is a directory, not a file", path=p)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            magic = fh.read(2)
    except OSError as exc:
        raise KGLoadError(f"cannot read file: {exc.strerror or exc}", path=p) from exc
    if size == 0:
        what = "gzip file" if p.suffix.lower() == ".gz" else "file"
        raise KGLoadError(f"empty {what} (0 bytes): nothing to load", path=p)
    gzipped = magic == b"\x1f\x8b"
    if p.suffix.lower() == ".gz" and not gzipped:
        raise KGLoadError("has a .gz extension but is not gzip-compressed", path=p)
    head = _head(p, gzipped)
    if gzipped and not head:
        raise KGLoadError("gzip file decompresses to nothing (0 bytes): nothing to load", path=p)
    _check_text(p, head)
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise KGLoadError("file contains only whitespace: nothing to load", path=p)

    inner = p.with_suffix("") if gzipped and p.suffix.lower() == ".gz" else p
    ext = inner.suffix.lower().lstrip(".")
    sniffed = _sniff(p, head)
    if sniffed == "owl-xml":
        raise KGLoadError(
            "this is OWL/XML (the OWL 2 XML serialization), not RDF/XML; convert it to "
            "RDF/XML or Turtle first (e.g. Protégé 'Save as', or `robot convert`)",
            path=p,
        )
    if format is not None:
        name, fmt = resolve_format(format)
        return ResolvedFile(p, name, fmt, gzipped, sniffed)
    if ext in _NOT_RDF_EXT:
        raise KGLoadError(f"looks like {_NOT_RDF_EXT[ext]}", path=p)
    if ext in _ALIASES:
        name = _ALIASES[ext]
        if name == "xml" and sniffed not in (None, "xml", "delimited"):
            name = sniffed  # a .owl/.rdf/.xml file that is really Turtle, N-Triples, ...
        return ResolvedFile(p, name, FORMATS[name][0], gzipped, sniffed)
    if sniffed == "delimited":
        raise KGLoadError(
            "looks like a delimited triple file, not RDF; use load_triples() "
            "(CLI: `kgagent load WS FILE --sep '|'`)",
            path=p,
        )
    if sniffed is None:
        raise KGLoadError(
            f"cannot tell the RDF format from the extension {('.' + ext) if ext else '(none)'} "
            f"or the content; pass format=..., one of: {supported_formats()}",
            path=p,
        )
    return ResolvedFile(p, sniffed, FORMATS[sniffed][0], gzipped, sniffed)
