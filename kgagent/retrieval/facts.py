"""The fact table: every fact-bearing triple of the graph, verbalized, with a stable id.

Held as columns, never as Python objects per fact, so a 10M-fact graph is a few arrays
that load by mapping files: the fact ids (int64); subject, predicate and object as int32
codes into one sorted table of the distinct N-Triples terms (each term stored once);
the sentences as one UTF-8 blob with offsets (:class:`~kgagent.retrieval.strings.Strings`).
Ask-time lookups are vectorized over two derived arrays, saved with the table: the rows
in id order (``rows_for_ids`` is a ``searchsorted``) and, per term, the rows it is the
subject then the object of (``rows_touching`` is a CSR slice). Labels are triples that
*name* things (rdfs:label, skos labels); they feed linking and verbalization rather than
becoming facts themselves.

The table is built chunk by chunk (:mod:`kgagent.retrieval.fact_stream`); ``FactTable(frame)``
still takes a pandas frame of id, s, p, o, text (tests, and a table saved as TSV
before this layout).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kgagent._io import random_access
from kgagent.artifact import read_manifest, write_manifest
from kgagent.errors import IndexLoadError
from kgagent.kg.terms import iri_of, parse_literal
from kgagent.retrieval.strings import Strings
from kgagent.retrieval.verbalize import format_literal
from kgagent.types import Fact

if TYPE_CHECKING:
    import pandas as pd

    from kgagent.kg.graph import KnowledgeGraph
    from kgagent.retrieval.verbalize import Verbalizer

__all__ = ["FORMAT", "FactTable", "parse_literal"]

#: the layout of a saved fact table directory
FORMAT = "kgagent-facts/1"
_COLUMNS = ["id", "s", "p", "o", "text"]
_CODES = ("s", "p", "o")
_HINT = "rebuild it with `kgagent index`"


class FactTable:
    """Columns of facts: id, subject/predicate/object terms (N-Triples syntax), text.

    Args:
        frame: a pandas frame of columns id, s, p, o, text (converted to columns); or
            give the columns as keywords, as :meth:`from_columns` does.
    """

    def __init__(self, frame: pd.DataFrame | None = None, **columns: Any) -> None:
        if frame is not None:
            columns = _columns_of_frame(frame)
        #: (n,) int64 fact ids
        self.ids_array: np.ndarray = columns["ids"]
        #: (n,) int32 codes into :attr:`terms`, per column s, p, o
        self.codes: dict[str, np.ndarray] = {c: columns[c] for c in _CODES}
        #: the distinct terms, sorted (a term's code is its rank)
        self.terms: Strings = columns["terms"]
        #: the sentences, in row order
        self.sentences: Strings = columns["texts"]
        self._id_order: np.ndarray | None = columns.get("id_order")  # (n,) rows by id
        self._ids_sorted: np.ndarray | None = columns.get("ids_sorted")  # (n,) ids[order]
        self._node_ptr: np.ndarray | None = columns.get("node_ptr")  # (terms + 1,)
        self._node_rows: np.ndarray | None = columns.get("node_rows")  # (2n,)
        self._cols: dict[str, np.ndarray] = {}
        self._frame: pd.DataFrame | None = None

    @classmethod
    def from_columns(
        cls,
        *,
        ids: np.ndarray,
        s: np.ndarray,
        p: np.ndarray,
        o: np.ndarray,
        terms: Strings,
        texts: Strings,
    ) -> FactTable:
        return cls(ids=ids, s=s, p=p, o=o, terms=terms, texts=texts)

    def __len__(self) -> int:
        return len(self.ids_array)

    @property
    def ids(self) -> np.ndarray:
        return np.asarray(self.ids_array, dtype=np.int64)

    @property
    def texts(self) -> list[str]:
        """All sentences, in row order (a new list on every access: keep it)."""
        return self.sentences.tolist()

    def texts_at(self, rows: np.ndarray) -> list[str]:
        """The sentences of ``rows`` (decoded one by one: no whole column is built)."""
        return self.sentences.take(np.asarray(rows).tolist())

    def terms_at(self, name: str, rows: np.ndarray) -> np.ndarray:
        """(k,) object array: column ``name`` (s, p or o) of ``rows``."""
        codes = np.asarray(self.codes[name])[np.asarray(rows, dtype=np.int64)]
        return np.array([self.terms[int(c)] for c in codes.tolist()], dtype=object)

    def column(self, name: str) -> np.ndarray:
        """A whole column as a NumPy array (id: int64; s, p, o, text: objects), built on
        first use and kept; for a few rows, :meth:`terms_at` and :meth:`texts_at`."""
        col = self._cols.get(name)
        if col is None:
            if name == "id":
                col = self.ids
            elif name == "text":
                col = self.sentences.decoded()
            else:
                col = self.terms.decoded()[np.asarray(self.codes[name])]
            self._cols[name] = col
        return col

    @property
    def frame(self) -> pd.DataFrame:
        """The table as a pandas frame (id, s, p, o, text), built on first use."""
        if self._frame is None:
            import pandas as pd

            self._frame = pd.DataFrame({c: self.column(c) for c in _COLUMNS})
        return self._frame

    # -- building -----------------------------------------------------------------------

    @classmethod
    def from_kg(
        cls,
        kg: KnowledgeGraph,
        *,
        verbalizer: Verbalizer | None = None,
        chunk_bytes: int = 16 << 20,
    ) -> FactTable:
        """The fact table of ``kg``, read in chunks of ``chunk_bytes`` of scanned TSV."""
        from kgagent.kg.scan import triple_chunks
        from kgagent.retrieval.fact_stream import FactTableBuilder
        from kgagent.retrieval.verbalize import Verbalizer

        builder = FactTableBuilder(verbalizer or Verbalizer(kg.ontology))
        for chunk in triple_chunks(kg, chunk_bytes=chunk_bytes):
            builder.add(chunk)
        return builder.finish()

    # -- lookup -------------------------------------------------------------------------

    def rows_for_ids(self, ids: np.ndarray) -> np.ndarray:
        """Row numbers of fact ids (-1 for unknown ids): a binary search of the sorted
        ids (a mapped file touches ~log2(n) pages per id)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        order, sorted_ids = self._by_id()
        if len(order) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, ids), len(order) - 1)
        return np.where(sorted_ids[pos] == ids, np.asarray(order[pos], dtype=np.int64), -1)

    def _by_id(self) -> tuple[np.ndarray, np.ndarray]:
        """(n,) rows in id order and (n,) the ids in that order, computed once."""
        if self._id_order is None:
            self._id_order = np.argsort(self.ids, kind="stable")
        if self._ids_sorted is None:
            self._ids_sorted = self.ids[self._id_order]
        return self._id_order, self._ids_sorted

    def rows_touching(self, node_term: str) -> np.ndarray:
        """Rows whose subject or object is ``node_term`` (N-Triples syntax): its rows as
        subject, then as object, each in row order."""
        code = self.terms.find(node_term)
        if code < 0:
            return np.empty(0, dtype=np.int64)
        if self._node_ptr is None:
            self._node_ptr, self._node_rows = _node_index(self.codes, len(self.terms))
        a, b = int(self._node_ptr[code]), int(self._node_ptr[code + 1])
        return np.asarray(self._node_rows[a:b], dtype=np.int64)

    def fact(self, row: int, *, labels=None, score: float = 0.0) -> Fact:
        """A :class:`Fact` for one row (``labels``: a callable IRI -> label)."""
        s, p, o = (self.terms[int(self.codes[c][row])] for c in _CODES)
        literal = o.startswith('"')
        if literal:
            lex, dt, _ = parse_literal(o)
            obj, obj_label = lex, format_literal(lex, dt)
        else:
            obj = iri_of(o)
            obj_label = labels(obj) if labels else obj
        return Fact(
            id=int(self.ids_array[row]),
            subject=iri_of(s),
            predicate=iri_of(p),
            object=obj,
            subject_label=labels(iri_of(s)) if labels else iri_of(s),
            predicate_label=labels(iri_of(p)) if labels else iri_of(p),
            object_label=obj_label,
            text=self.sentences[int(row)],
            object_is_literal=literal,
            score=score,
        )

    # -- persistence --------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Writes the columns as .npy files and the strings as blobs into ``directory``
        (created; the caller makes it atomic), with a manifest vouching for each file."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        order, sorted_ids = self._by_id()
        if self._node_ptr is None:
            self._node_ptr, self._node_rows = _node_index(self.codes, len(self.terms))
        arrays = {"ids": self.ids, "id_order": order, "ids_sorted": sorted_ids, **self.codes}
        arrays |= {"node_ptr": self._node_ptr, "node_rows": self._node_rows}
        for name, array in arrays.items():
            np.save(directory / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        self.terms.save(directory, "terms")
        self.sentences.save(directory, "texts")
        write_manifest(
            directory, "manifest.json", format=FORMAT, count=len(self), terms=len(self.terms),
            inventory=True,
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> FactTable:
        """Maps a saved table (a directory; a ``facts.tsv`` of the old layout is read
        whole). IndexLoadError names a file that is missing, damaged or inconsistent."""
        path = Path(path)
        if path.suffix == ".tsv":
            return cls(_read_tsv(path))
        manifest = read_manifest(
            path, "manifest.json", format=FORMAT, require=("count", "terms"),
            error=IndexLoadError, what="a fact table", hint=_HINT,
        )  # fmt: skip
        n, m = manifest["count"], manifest["terms"]
        try:
            arrays = {
                name: random_access(
                    np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                )
                for name in ("ids", "id_order", "ids_sorted", *_CODES, "node_ptr", "node_rows")
            }
            terms, texts = Strings.load(path, "terms"), Strings.load(path, "texts")
        except (OSError, ValueError) as exc:
            raise IndexLoadError(f"{path}: unreadable fact table ({exc}); {_HINT}") from exc
        want = {"ids": n, "id_order": n, "ids_sorted": n, "s": n, "p": n, "o": n, "node_ptr": m + 1}
        want["node_rows"] = 2 * n
        for name, size in want.items():
            if arrays[name].shape != (size,):
                raise IndexLoadError(
                    f"{path / (name + '.npy')}: shape {arrays[name].shape}, manifest.json "
                    f"says {size} rows; {_HINT}"
                )
        if len(terms) != m or len(texts) != n:
            raise IndexLoadError(f"{path}: {len(terms)} terms and {len(texts)} texts, "
                                 f"manifest.json says {m} and {n}; {_HINT}")  # fmt: skip
        return cls(terms=terms, texts=texts, **arrays)


def _node_index(codes: dict[str, np.ndarray], num_terms: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of the rows each term touches: (terms + 1,) pointers, (2n,) rows, a term's
    rows as subject first, then as object, each ascending (a stable sort)."""
    s, o = np.asarray(codes["s"]), np.asarray(codes["o"])
    n = len(s)
    both = np.concatenate([s, o])  # (2n,) term per (row as subject, row as object)
    order = np.argsort(both, kind="stable")  # (2n,)
    rows = (order % n if n else order).astype(np.int64)
    ptr = np.zeros(num_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(both, minlength=num_terms), out=ptr[1:])
    return ptr, rows


def _columns_of_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """Columns of a frame of id, s, p, o, text: its terms sorted and coded."""
    if list(frame.columns)[:5] != _COLUMNS:
        raise ValueError(f"a fact frame has columns {_COLUMNS}, not {list(frame.columns)}")
    n = len(frame)
    every = np.concatenate([frame[c].to_numpy(dtype=object) for c in _CODES])  # (3n,)
    uniques, inverse = np.unique(every, return_inverse=True) if n else (every, every)
    inverse = np.asarray(inverse, dtype=np.int32)
    return {
        "ids": frame["id"].to_numpy(dtype=np.int64),
        **{c: inverse[k * n : (k + 1) * n] for k, c in enumerate(_CODES)},
        "terms": Strings.from_list(uniques.tolist()),
        "texts": Strings.from_list(frame["text"].tolist()),
    }


def _read_tsv(path: Path) -> pd.DataFrame:
    """A ``facts.tsv`` of the old layout (indexes saved before the columnar one)."""
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
    return frame
