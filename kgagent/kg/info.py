"""Summaries of a graph and of query results, for the CLI and for humans."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdflib.query import Result

    from kgagent.kg.graph import KnowledgeGraph

__all__ = ["describe", "render", "render_result", "result_data"]

Clean = Callable[[str], str]


def describe(kg: KnowledgeGraph, *, max_items: int = 50) -> dict[str, Any]:
    """Counts per source, entities/relations, classes and properties as plain data."""
    onto = kg.ontology
    vocab = kg.vocab
    classes = sorted(onto.classes.values(), key=lambda c: (-c.instances, c.iri))
    props = sorted(onto.properties.values(), key=lambda p: (-p.usage, p.iri))
    return {
        "triples": len(kg),
        "fingerprint": kg.fingerprint(),
        "sources": [
            {
                "name": s.name,
                "kind": s.kind,
                "format": s.format,
                "triples": s.triples,
                "graph": s.graph,
            }
            for s in kg.sources()
        ],
        "entities": len(vocab.entities),
        "relations": len(vocab.relations),
        "classes": {
            "count": len(classes),
            "items": [
                {
                    "iri": c.iri,
                    "label": c.label,
                    "parents": [onto.label(p) for p in c.parents],
                    "instances": c.instances,
                }
                for c in classes[:max_items]
            ],
        },
        "properties": {
            "count": len(props),
            "items": [
                {
                    "iri": p.iri,
                    "label": p.label,
                    "kind": p.kind,
                    "domain": [onto.label(d) for d in p.domains],
                    "range": [onto.label(r) for r in p.ranges],
                    "usage": p.usage,
                }
                for p in props[:max_items]
            ],
        },
        "individuals": len(onto.individuals()),
    }


def render(data: dict[str, Any], *, clean: Clean = str) -> str:
    """:func:`describe`'s data as text; ``clean`` is applied to every name and label (the
    CLI passes its terminal escaping)."""
    out = [
        f"triples: {data['triples']:,}   entities: {data['entities']:,}   "
        f"relations: {data['relations']:,}   typed individuals: {data['individuals']:,}",
        "",
        f"sources ({len(data['sources'])}):",
    ]
    for s in data["sources"]:
        out.append(
            f"  {clean(s['name']):<32} {s['triples']:>10,}  {clean(s['format']):<16} "
            f"<{clean(s['graph'])}>"
        )
    classes = data["classes"]
    out += ["", f"classes ({classes['count']}):"]
    for c in classes["items"]:
        parents = f" ⊑ {', '.join(clean(p) for p in c['parents'])}" if c["parents"] else ""
        out.append(f"  {clean(c['label']):<32} {c['instances']:>8,} instances{parents}")
    if classes["count"] > len(classes["items"]):
        out.append(f"  ... {classes['count'] - len(classes['items'])} more")
    props = data["properties"]
    out += ["", f"properties ({props['count']}):"]
    for p in props["items"]:
        dom = ", ".join(clean(d) for d in p["domain"]) or "-"
        rng = ", ".join(clean(r) for r in p["range"]) or "-"
        out.append(
            f"  {clean(p['label']):<32} {p['kind']:<10} {dom} -> {rng}   ({p['usage']:,} uses)"
        )
    if props["count"] > len(props["items"]):
        out.append(f"  ... {props['count'] - len(props['items'])} more")
    return "\n".join(out)


def _cell(term: Any) -> str:
    return "" if term is None else str(term)


def result_data(result: Result) -> Any:
    """A query result as plain JSON data: SPARQL JSON results for SELECT, a boolean for
    ASK, JSON-LD for CONSTRUCT and DESCRIBE."""
    if result.type == "ASK":
        return bool(result.askAnswer)
    if result.type in ("CONSTRUCT", "DESCRIBE"):
        return json.loads(result.graph.serialize(format="json-ld"))
    return json.loads(result.serialize(format="json"))


def render_result(
    result: Result,
    *,
    fmt: str = "table",
    limit: int = 50,
    clean: Clean = str,
    keep_layout: Clean | None = None,
) -> str:
    """Formats a query result as a table, JSON, CSV or TSV.

    Args:
        clean: applied to every cell of a table (and of CSV/TSV unless ``keep_layout``).
        keep_layout: applied instead to CSV/TSV cells and serialized graphs, where quoted
            newlines and tabs are part of the format (the CLI escapes everything else).
    """
    if fmt not in ("table", "json", "csv", "tsv"):
        raise ValueError(f"unknown format {fmt!r}: table, json, csv or tsv")
    if fmt == "json":
        return json.dumps(result_data(result), indent=2, ensure_ascii=False)
    if result.type == "ASK":
        return str(bool(result.askAnswer)).lower()
    layout = keep_layout or clean
    if result.type in ("CONSTRUCT", "DESCRIBE"):
        return layout(result.graph.serialize(format="turtle"))
    names = [str(v) for v in result.vars]
    rows = [[row.get(v) for v in result.vars] for row in result.bindings]
    if fmt in ("csv", "tsv"):
        buf = io.StringIO()
        w = csv.writer(buf, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        w.writerow(names)
        w.writerows([[layout(_cell(x)) for x in r] for r in rows])
        return buf.getvalue().rstrip("\n")
    shown = rows if limit <= 0 else rows[:limit]
    cells = [[clean(_cell(x)) for x in r] for r in shown]
    widths = [min(60, max([len(n)] + [len(r[i]) for r in cells])) for i, n in enumerate(names)]
    line = "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in cells:
        out.append(
            "  ".join(
                (c if len(c) <= w else c[: w - 1] + "…").ljust(w)
                for c, w in zip(r, widths, strict=True)
            )
        )
    more = len(rows) - len(shown)
    out.append(f"({len(rows)} rows{f', {more} not shown' if more else ''})")
    return "\n".join(out)
