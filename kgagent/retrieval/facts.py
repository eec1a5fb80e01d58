"""The fact table: every fact-bearing triple of the graph, verbalized, with a stable id.

Built with one SPARQL pass (TSV, parsed by pandas) and held as columns, not as Python
objects per fact, so a 1M-fact graph stays a few arrays. Labels are triples that *name*
things (rdfs:label, skos labels); they feed linking and verbalization rather than
becoming facts themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kgagent.kg.terms import iri_of, parse_literal
from kgagent.retrieval.verbalize import NAME_PREDICATES, Verbalizer, format_literal
from kgagent.types import Fact, fact_id

if TYPE_CHECKING:
    import pandas as pd

    from kgagent.kg.graph import KnowledgeGraph

__all__ = ["FactTable", "parse_literal"]

_COLUMNS = ["id", "s", "p", "o", "text"]


@dataclass
class FactTable:
    """Columns of facts: id, subject/predicate/object terms (N-Triples syntax), text."""

    frame: pd.DataFrame  # columns id (int64), s, p, o (str), text (str)

    def __post_init__(self) -> None:
        self._row: dict[int, int] | None = None
        self._by_node: dict[str, np.ndarray] | None = None
        self._cols: dict[str, np.ndarray] | None = None

    def column(self, name: str) -> np.ndarray:
        """A column as a NumPy array (cached: row access through pandas is slow)."""
        if self._cols is None:
            self._cols = {c: self.frame[c].to_numpy() for c in self.frame.columns}
        return self._cols[name]

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def ids(self) -> np.ndarray:
        return self.frame["id"].to_numpy(dtype=np.int64)

    @property
    def texts(self) -> list[str]:
        """All sentences, in row order (a new list on every access: keep it)."""
        return self.frame["text"].tolist()

    # -- building -----------------------------------------------------------------------

    @classmethod
    def from_kg(cls, kg: KnowledgeGraph, *, verbalizer: Verbalizer | None = None) -> FactTable:
        import pandas as pd

        onto = kg.ontology
        verbalizer = verbalizer or Verbalizer(onto)
        rows = kg.triples_frame()
        names = {f"<{p}>" for p in NAME_PREDICATES}
        rows = rows[~rows[1].isin(names)].reset_index(drop=True)
        s_col, p_col, o_col = rows[0].tolist(), rows[1].tolist(), rows[2].tolist()
        labels: dict[str, str] = {}

        def label_column(column) -> np.ndarray:
            """Labels of a column of terms, looked up once per distinct term."""
            codes, uniques = pd.factorize(column)
            for term in uniques.tolist():
                if term not in labels:
                    if term.startswith('"'):
                        lex, dt, _ = parse_literal(term)
                        labels[term] = format_literal(lex, dt)
                    else:
                        labels[term] = onto.label(iri_of(term))
            return np.array([labels[t] for t in uniques.tolist()], dtype=object)[codes]

        s_labels, o_labels = label_column(rows[0]), label_column(rows[2])
        texts = np.empty(len(rows), dtype=object)
        p_codes, predicates = pd.factorize(rows[1])
        order = np.argsort(p_codes, kind="stable")
        bounds = np.searchsorted(p_codes[order], np.arange(len(predicates) + 1))
        for k, p in enumerate(predicates.tolist()):
            at = order[bounds[k] : bounds[k + 1]]  # rows of predicate p
            texts[at] = verbalizer.sentences(s_labels[at], iri_of(p), o_labels[at])
        ids = np.fromiter(
            (fact_id(s, p, o) for s, p, o in zip(s_col, p_col, o_col, strict=True)),
            dtype=np.int64,
            count=len(s_col),
        )
        frame = pd.DataFrame({"id": ids, "s": s_col, "p": p_col, "o": o_col, "text": texts})
        frame = frame.drop_duplicates("id").reset_index(drop=True)
        return cls(frame)

    # -- lookup -------------------------------------------------------------------------

    def rows_for_ids(self, ids: np.ndarray) -> np.ndarray:
        """Row numbers of fact ids (-1 for unknown ids)."""
        if self._row is None:
            self._row = {int(i): r for r, i in enumerate(self.frame["id"].tolist())}
        row = self._row
        return np.fromiter((row.get(int(i), -1) for i in ids), dtype=np.int64, count=len(ids))

    def rows_touching(self, node_term: str) -> np.ndarray:
        """Rows whose subject or object is ``node_term`` (N-Triples syntax)."""
        if self._by_node is None:
            import pandas as pd

            both = pd.concat(
                [
                    pd.Series(np.arange(len(self.frame)), index=self.frame["s"].to_numpy()),
                    pd.Series(np.arange(len(self.frame)), index=self.frame["o"].to_numpy()),
                ]
            )
            groups = both.groupby(level=0).indices
            values = both.to_numpy()
            self._by_node = {k: values[v] for k, v in groups.items()}
        return self._by_node.get(node_term, np.empty(0, dtype=np.int64))

    def fact(self, row: int, *, labels=None, score: float = 0.0) -> Fact:
        """A :class:`Fact` for one row (``labels``: a callable IRI -> label)."""
        s, p, o = self.column("s")[row], self.column("p")[row], self.column("o")[row]
        literal = o.startswith('"')
        if literal:
            lex, dt, _ = parse_literal(o)
            obj, obj_label = lex, format_literal(lex, dt)
        else:
            obj = iri_of(o)
            obj_label = labels(obj) if labels else obj
        return Fact(
            id=int(self.column("id")[row]),
            subject=iri_of(s),
            predicate=iri_of(p),
            object=obj,
            subject_label=labels(iri_of(s)) if labels else iri_of(s),
            predicate_label=labels(iri_of(p)) if labels else iri_of(p),
            object_label=obj_label,
            text=self.column("text")[row],
            object_is_literal=literal,
            score=score,
        )

    # -- persistence --------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Writes the table as TSV (terms are N-Triples, so tabs/newlines are escaped).

        Joined in Python rather than by ``DataFrame.to_csv``: 3x faster on 130k rows,
        which matters when an incremental update rewrites the table.
        """
        f = self.frame
        text = f["text"].str.replace("\t", " ").str.replace("\n", " ")
        cols = [f["id"].astype(str).tolist(), f["s"].tolist(), f["p"].tolist(), f["o"].tolist()]
        rows = map("\t".join, zip(*cols, text.tolist(), strict=True))
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("\t".join(_COLUMNS) + "\n")
            for row in rows:
                fh.write(row)
                fh.write("\n")

    @classmethod
    def load(cls, path: Path) -> FactTable:
        import csv

        import pandas as pd

        frame = pd.read_csv(
            path,
            sep="\t",
            dtype={"id": np.int64, "s": str, "p": str, "o": str, "text": str},
            quoting=csv.QUOTE_NONE,
            keep_default_na=False,
            na_filter=False,
            engine="c",
        )
        if list(frame.columns) != _COLUMNS:
            raise ValueError(f"{path}: unexpected columns {list(frame.columns)}")
        return cls(frame)
