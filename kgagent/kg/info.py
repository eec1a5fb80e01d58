"""Summaries of a graph and of query results, for the CLI and for humans."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdflib.query import Result

    from kgagent.kg.graph import KnowledgeGraph

__all__ = ["describe", "render", "render_result"]


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


def render(data: dict[str, Any]) -> str:
    out = [
        f"triples: {data['triples']:,}   entities: {data['entities']:,}   "
        f"relations: {data['relations']:,}   typed individuals: {data['individuals']:,}",
        "",
        f"sources ({len(data['sources'])}):",
    ]
    for s in data["sources"]:
        out.append(f"  {s['name']:<32} {s['triples']:>10,}  {s['format']:<16} <{s['graph']}>")
    classes = data["classes"]
    out += ["", f"classes ({classes['count']}):"]
    for c in classes["items"]:
        parents = f" ⊑ {', '.join(c['parents'])}" if c["parents"] else ""
        out.append(f"  {c['label']:<32} {c['instances']:>8,} instances{parents}")
    if classes["count"] > len(classes["items"]):
        out.append(f"  ... {classes['count'] - len(classes['items'])} more")
    props = data["properties"]
    out += ["", f"properties ({props['count']}):"]
    for p in props["items"]:
        dom = ", ".join(p["domain"]) or "-"
        rng = ", ".join(p["range"]) or "-"
        out.append(f"  {p['label']:<32} {p['kind']:<10} {dom} -> {rng}   ({p['usage']:,} uses)")
    if props["count"] > len(props["items"]):
        out.append(f"  ... {props['count'] - len(props['items'])} more")
    return "\n".join(out)


def _cell(term: Any) -> str:
    return "" if term is None else str(term)


def render_result(result: Result, *, fmt: str = "table", limit: int = 50) -> str:
    """Formats a query result as a table, JSON, CSV or TSV."""
    if result.type == "ASK":
        return (
            json.dumps(bool(result.askAnswer))
            if fmt == "json"
            else str(bool(result.askAnswer)).lower()
        )
    if result.type in ("CONSTRUCT", "DESCRIBE"):
        return result.graph.serialize(format="json-ld" if fmt == "json" else "turtle")
    names = [str(v) for v in result.vars]
    rows = [[row.get(v) for v in result.vars] for row in result.bindings]
    if fmt == "json":
        return json.dumps(json.loads(result.serialize(format="json")), indent=2, ensure_ascii=False)
    if fmt in ("csv", "tsv"):
        buf = io.StringIO()
        w = csv.writer(buf, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        w.writerow(names)
        w.writerows([[_cell(x) for x in r] for r in rows])
        return buf.getvalue().rstrip("\n")
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}: table, json, csv or tsv")
    shown = rows if limit <= 0 else rows[:limit]
    cells = [[_cell(x) for x in r] for r in shown]
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
