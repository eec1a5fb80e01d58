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

A manifest can also vouch for the files beside it (``inventory=True`` when writing): each
file's size, and its sha256 where the file is at most ``DIGEST_MAX`` bytes. Every read
then checks them, so a truncated or replaced file is refused by name instead of being
read as a smaller, valid-looking table. Sizes cost one ``stat`` per file; digests are
limited to small files because they cost a full read (sha256 runs at ~1.7 GB/s here: a
64 MiB file takes ~40 ms), and the large files (vector matrices) are checked by size
and by their own shape and row count, which the parts verify anyway. A manifest without
an inventory (written before it existed) is read as before.

Reading also repairs what a killed save left (:func:`kgagent._io.recover_dir`): a
directory swap cut short between its renames is finished before the manifest is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kgagent._io import atomic_write_json, atomic_write_text, recover_dir
from kgagent.errors import KGAgentError

__all__ = [
    "DIGEST_MAX",
    "INVENTORY",
    "MISSING",
    "check_inventory",
    "file_inventory",
    "read_manifest",
    "sha256_file",
    "write_manifest",
]

#: how a field absent from a manifest is shown in a refusal
MISSING = "<missing>"
#: the manifest field listing the files it vouches for
INVENTORY = "inventory"
#: files up to this size get a sha256 in the inventory (larger ones: size only)
DIGEST_MAX = 64 * 1024 * 1024


def write_manifest(
    directory: str | Path,
    name: str,
    /,
    *,
    format: str,
    sort_keys: bool = True,
    inventory: bool | Iterable[str] = False,
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
        inventory: also record every file now in the directory (not in subdirectories,
            which are parts with their own manifests; not dot-files) under
            ``"inventory"`` (see :func:`file_inventory`), checked by every read; or only
            the files named (a part whose other files are rewritten later, e.g. its
            metrics). Write the manifest once the files it vouches for are complete.
        **fields: the part's own entries (JSON-serialisable).

    Returns:
        The path written.
    """
    path = Path(directory) / name
    manifest = {"format": format, **fields}
    if inventory:
        only = None if inventory is True else list(inventory)
        manifest[INVENTORY] = file_inventory(directory, exclude=(name,), only=only)
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
    broken: type[KGAgentError] | None = None,
    check_files: bool = True,
) -> dict[str, Any]:
    """Reads ``DIRECTORY/NAME`` and refuses it unless it is this part's manifest.

    Checked in order, each refusal naming the file: it exists (``PATH: missing (not
    WHAT)``), it is UTF-8 JSON (``PATH: unreadable (REASON)``) holding an object
    (``PATH: not a JSON object``), its ``format`` tag is ``format`` (``PATH: format
    'x' is not 'y'``), every ``require`` key is present (``PATH: field 'k' is
    missing``), every ``expect`` key has its value (``PATH: field 'k' is V,
    expected W``, with ``'<missing>'`` for an absent key), and every file of its
    ``inventory``, if it has one, has the recorded size and digest (``FILE: N bytes,
    manifest.json says M``). Before all that, a save of the directory cut short by a
    crash is finished or rolled back (:func:`kgagent._io.recover_dir`).

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
        broken: the class raised for a file that differs from the inventory (default:
            ``error``), where a part tells "corrupt" from "another format".
        check_files: False skips the inventory (a caller that checks each file on
            its own, to salvage the intact ones).

    Returns:
        The manifest, as read.
    """
    directory = Path(directory)
    path = directory / name
    recover_dir(directory)

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
    if check_files and INVENTORY in manifest:
        check_inventory(
            directory, manifest[INVENTORY], error=broken or error, hint=hint, manifest=name
        )
    return manifest


def file_inventory(
    directory: str | Path,
    *,
    exclude: Iterable[str] = (),
    only: Iterable[str] | None = None,
    digest_max: int = DIGEST_MAX,
) -> dict[str, dict[str, Any]]:
    """``{name: {"size": bytes, "sha256": hex}}`` of the plain files in ``directory``
    (or of ``only`` those, each of which must exist).

    Dot-files (locks, temps) and subdirectories are left out; ``sha256`` only for files
    of at most ``digest_max`` bytes. Names are sorted, so the same files give the same
    inventory.
    """
    directory = Path(directory)
    skip = set(exclude)
    if only is not None:
        only = list(only)
        missing = [n for n in only if not (directory / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{directory}: no file {missing[0]!r} to record")
    out: dict[str, dict[str, Any]] = {}
    for p in sorted(directory.iterdir() if only is None else (directory / n for n in only)):
        if p.name in skip or p.name.startswith(".") or p.is_symlink() or not p.is_file():
            continue
        size = p.stat().st_size
        out[p.name] = (
            {"size": size, "sha256": sha256_file(p)} if size <= digest_max else {"size": size}
        )
    return out


def check_inventory(
    directory: str | Path,
    inventory: Any,
    *,
    error: type[KGAgentError] = KGAgentError,
    hint: str = "",
    manifest: str = "manifest.json",
    only: Iterable[str] | None = None,
) -> None:
    """Refuses ``directory`` unless each inventory file is there, a plain file inside it,
    with the recorded size and (where recorded) sha256; the message names the file and
    what differs. ``only`` restricts the check to those names."""
    directory = Path(directory)

    def refuse(problem: str) -> KGAgentError:
        return error(f"{problem}; {hint}" if hint else problem)

    if not isinstance(inventory, dict):
        raise refuse(f"{directory / manifest}: field {INVENTORY!r} is not an object")
    names = inventory if only is None else [n for n in only if n in inventory]
    for name in names:
        entry = inventory[name]
        size = entry.get("size") if isinstance(entry, dict) else None
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if (
            not isinstance(name, str)
            or not _plain_name(name)
            or isinstance(size, bool)
            or not isinstance(size, int)
            or not (digest is None or isinstance(digest, str))
        ):
            raise refuse(f"{directory / manifest}: field {INVENTORY!r} has a bad entry {name!r}")
        p = directory / name
        if p.is_symlink() or not p.is_file():
            raise refuse(f"{p}: missing (listed in {manifest})")
        found = p.stat().st_size
        if found != size:
            raise refuse(f"{p}: {found} bytes, {manifest} says {size} (truncated or replaced)")
        if digest is not None and sha256_file(p) != digest:
            raise refuse(f"{p}: contents differ from {manifest} (sha256); corrupt or replaced")


def _plain_name(name: str) -> bool:
    """A file name directly in the directory: no separators, not . or .."""
    return (
        bool(name) and name not in (".", "..") and not any(c in name for c in ("/", os.sep, "\0"))
    )


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
