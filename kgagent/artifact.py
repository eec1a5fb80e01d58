"""The manifest of a saved part: one JSON object with a format tag, written and checked once.

Every learned or built part kgagent saves (the retrieval index and its faiss vectors, the
entity linker, a path policy, a KG embedding, a transfer bundle) keeps, beside its
weights or tables, a small JSON file that says what the directory holds: ``"format"``
(``"kgagent-faiss/1"``, ...) and the part's own fields (encoder, dim, counts, config).
Written by hand in each part, the six copies had six ways of spelling "missing",
"unreadable" and "another format", and some never checked that the file held a JSON
object at all. Here the file is written atomically in one way and read back with one
set of refusals, each naming the file and the field, so a directory from another
version or another encoder fails with a message that says what to do rather than
returning wrong results (the config-beside-weights idea of sentence-transformers'
``Module.save``).

A part keeps its own exception class (``error``) and adds its own advice (``hint``):
the helper decides *what* is wrong, the part says *what to do about it*.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kgagent._io import atomic_write_json, atomic_write_text
from kgagent.errors import KGAgentError

__all__ = ["MISSING", "read_manifest", "write_manifest"]

#: how a field absent from a manifest is shown in a refusal
MISSING = "<missing>"


def write_manifest(
    directory: str | Path,
    name: str,
    /,
    *,
    format: str,
    sort_keys: bool = True,
    **fields: Any,
) -> Path:
    """Writes ``DIRECTORY/NAME``: ``{"format": format, **fields}`` as indented UTF-8 JSON.

    The write is atomic (temp file, fsync, rename), so a crash leaves the previous
    manifest, never half of one.

    Args:
        directory: the part's directory (created if absent).
        name: the file name, ``manifest.json`` or ``config.json``.
        format: the part's format tag, ``"kgagent-<part>/<version>"``; bump the version
            only when old readers could misread the new files.
        sort_keys: keys in sorted order (the :func:`kgagent._io.atomic_write_json`
            layout); False keeps ``format`` first and the fields in the order given, for
            the parts whose files have always been written that way (their files stay
            byte-identical, and a reader that iterates a field sees the write order).
        **fields: the part's own entries (JSON-serialisable).

    Returns:
        The path written.
    """
    path = Path(directory) / name
    manifest = {"format": format, **fields}
    if sort_keys:
        atomic_write_json(path, manifest)
    else:
        atomic_write_text(path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return path


def read_manifest(
    directory: str | Path,
    name: str,
    /,
    *,
    format: str | None,
    expect: Mapping[str, Any] | None = None,
    require: Iterable[str] = (),
    error: type[KGAgentError] = KGAgentError,
    mismatch: type[KGAgentError] | None = None,
    what: str = "",
    hint: str = "",
) -> dict[str, Any]:
    """Reads ``DIRECTORY/NAME`` and refuses it unless it is this part's manifest.

    Checked in order, each refusal naming the file: it exists (``PATH: missing (not
    WHAT)``), it is UTF-8 JSON (``PATH: unreadable (REASON)``) holding an object
    (``PATH: not a JSON object``), its ``format`` tag is ``format`` (``PATH: format
    'x' is not 'y'``), every ``require`` key is present (``PATH: field 'k' is
    missing``) and every ``expect`` key has its value (``PATH: field 'k' is V,
    expected W``, with ``'<missing>'`` for an absent key).

    Args:
        directory: the part's directory.
        name: the file name, ``manifest.json`` or ``config.json``.
        format: the format tag the part reads; None accepts any (a caller that only
            peeks at a manifest, e.g. :meth:`kgagent.retrieval.index.FactIndex.read_manifest`).
        expect: fields that must have exactly these values (the encoder that made the
            vectors, their dim): a mismatch means the files are valid but not for this use.
        require: fields that must be present (any value).
        error: the part's exception class, raised for every refusal.
        mismatch: the class raised for an ``expect`` mismatch (default: ``error``),
            where a part tells "built with other settings" from "broken".
        what: what the directory should be ("a transfer bundle"), said when the file
            is missing.
        hint: what to do about any refusal ("rebuild it with `kgagent index`"),
            appended after ``; ``.

    Returns:
        The manifest, as read.
    """
    directory = Path(directory)
    path = directory / name

    def refuse(problem: str, kind: type[KGAgentError] = error) -> KGAgentError:
        return kind(f"{path}: {problem}; {hint}" if hint else f"{path}: {problem}")

    if not path.exists():
        why = [f"not {what}"] if what else []
        if not directory.exists():
            why.append("no such directory")
        raise refuse(f"missing ({'; '.join(why)})" if why else "missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad UTF-8 or bad JSON
        raise refuse(f"unreadable ({exc})") from exc
    if not isinstance(manifest, dict):
        raise refuse("not a JSON object")
    if format is not None and manifest.get("format", MISSING) != format:
        raise refuse(f"format {manifest.get('format', MISSING)!r} is not {format!r}")
    for key in require:
        if key not in manifest:
            raise refuse(f"field {key!r} is missing")
    for key, want in (expect or {}).items():
        found = manifest.get(key, MISSING)
        if key not in manifest or found != want:
            raise refuse(f"field {key!r} is {found!r}, expected {want!r}", mismatch or error)
    return manifest
