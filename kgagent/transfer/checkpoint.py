"""The transfer bundle: an agent's learned parts in one self-describing directory.

Layout of ``DIR``::

    manifest.json            format, source, library versions, and per component: its
                             type, config, metrics, and each file's sha256 and tensors
                             (name -> shape, dtype)
    vocabulary.json          {"entities": [[term, label], ...], "relations": [...]}
                             in id order: what the rows of every table mean
    embeddings/weights.safetensors       KG embedding tables (entity, relation)
    policy/weights.safetensors           the path policy's state dict
    adapter/adapter_model.safetensors    the reader's LoRA adapter (peft layout, with
    adapter/adapter_config.json          its config beside it)

Weights are safetensors only — nothing is ever unpickled, and a component directory
holding a pickle-based file (``.bin``, ``.pt``, ``.pkl``) is refused. Reading checks
the manifest's shape (every field of the right type, named when it is not), then every
file against it: each file sits at its place in this layout, inside the bundle (no
absolute path, no ``..``, no symlink leading out), and carries a sha256 that matches;
a component directory holds nothing the manifest does not list; tensor names, shapes and
dtypes match. Bundles without a digest for every file are refused (every bundle this
code writes has them). Writing is atomic (a temp directory renamed into place).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgagent._io import atomic_dir
from kgagent.artifact import read_manifest, sha256_file, write_manifest
from kgagent.errors import TransferError

__all__ = [
    "COMPONENTS",
    "FORMAT",
    "Bundle",
    "Component",
    "TransferError",
    "library_versions",
    "write_bundle",
]

FORMAT = "kgagent-transfer/1"
#: component type -> its weights file inside the component directory
COMPONENTS = {
    "embeddings": "weights.safetensors",
    "policy": "weights.safetensors",
    "adapter": "adapter_model.safetensors",
}
_PICKLED = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}


@dataclass
class Component:
    """One learned part, as written into (or read from) a bundle.

    Attributes:
        kind: a :data:`COMPONENTS` key.
        config: everything needed to rebuild it (JSON-able).
        tensors: name -> tensor (CPU), the contents of its weights file.
        metrics: how good it was where it was trained.
        files: extra plain files (name -> bytes), e.g. the adapter's config.
        raw: the weights file's bytes, written verbatim instead of re-serialising
            ``tensors`` (an adapter keeps the exact file peft wrote, metadata included).
    """

    kind: str
    config: dict[str, Any]
    tensors: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    raw: bytes | None = None


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries whose formats the weights depend on."""
    from importlib.metadata import PackageNotFoundError, version

    import kgagent

    out: dict[str, str | None] = {"kgagent": kgagent.__version__}
    for name in ("torch", "safetensors", "numpy", "peft", "transformers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


_sha256 = sha256_file
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: a file name inside a component directory: no separators, no control characters
_PLAIN = re.compile(r"[^/\\\x00-\x1f]+")


def _dtype_name(tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def write_bundle(
    path: str | Path,
    *,
    entities: tuple[list[str], list[str]],
    relations: tuple[list[str], list[str]],
    components: list[Component],
    source: dict[str, Any] | None = None,
) -> Path:
    """Writes a bundle directory atomically (an existing one is replaced whole).

    Args:
        path: the bundle directory.
        entities: (terms, labels) of the source graph's entity ids, in id order.
        relations: the same for its relations.
        components: the parts to write (at most one of each kind).
        source: where it came from (workspace, KG fingerprint, encoder ...).
    """
    from safetensors.torch import save_file

    kinds = [c.kind for c in components]
    for kind in kinds:
        if kind not in COMPONENTS:
            raise TransferError(f"component {kind!r}: expected one of {', '.join(COMPONENTS)}")
    if len(set(kinds)) != len(kinds):
        raise TransferError(f"components {kinds}: each kind at most once")
    for kind, (terms, labels) in (("entities", entities), ("relations", relations)):
        if len(terms) != len(labels):
            raise TransferError(f"{kind}: {len(terms)} terms but {len(labels)} labels")
    path = Path(path)
    with atomic_dir(path) as tmp:
        vocab = {
            "entities": [list(x) for x in zip(*entities, strict=True)],
            "relations": [list(x) for x in zip(*relations, strict=True)],
        }
        (tmp / "vocabulary.json").write_text(
            json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        manifest: dict[str, Any] = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source": source or {},
            "libraries": library_versions(),
            "vocabulary": {
                "file": "vocabulary.json",
                "entities": len(entities[0]),
                "relations": len(relations[0]),
                "sha256": _sha256(tmp / "vocabulary.json"),
            },
            "components": {},
        }
        for comp in components:
            cdir = tmp / comp.kind
            cdir.mkdir()
            weights = COMPONENTS[comp.kind]
            tensors = {k: v.detach().contiguous().cpu() for k, v in comp.tensors.items()}
            if comp.raw is not None:
                (cdir / weights).write_bytes(comp.raw)
            else:
                save_file(tensors, str(cdir / weights), metadata={"format": "pt"})
            extra = {}
            for name, data in comp.files.items():
                if "/" in name or name.endswith(_PICKLED) or name == weights:
                    raise TransferError(f"{comp.kind}: refusing to bundle the file {name!r}")
                (cdir / name).write_bytes(data)
                extra[f"{comp.kind}/{name}"] = _sha256(cdir / name)
            manifest["components"][comp.kind] = {
                "type": comp.kind,
                "config": comp.config,
                "metrics": comp.metrics,
                "weights": {
                    "file": f"{comp.kind}/{weights}",
                    "sha256": _sha256(cdir / weights),
                    "tensors": {
                        k: {"shape": list(v.shape), "dtype": _dtype_name(v)}
                        for k, v in sorted(tensors.items())
                    },
                },
                "files": extra,
            }
        # in the order built: the components' order is the order they are imported in
        write_manifest(tmp, "manifest.json", format=FORMAT, sort_keys=False, **manifest)
    return path


class Bundle:
    """A bundle read from disk, every file checked against its manifest.

    Tensors are read on demand (:meth:`tensors`), the vocabulary once (:attr:`entities`,
    :attr:`relations`).
    """

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.directory = directory
        self.manifest = manifest
        self._vocab: dict[str, tuple[list[str], list[str]]] | None = None

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        """Opens and validates a bundle.

        Raises:
            TransferError: a missing or unreadable manifest, another format, a field of
                the wrong type (named, e.g. ``components.policy.weights.sha256``), a
                file off its place in the layout or resolving outside the bundle, a file without a
                digest or whose digest, tensor names, shapes or dtypes differ from the
                manifest, or a pickle-based or unlisted file in a component directory.
        """
        directory = Path(path)
        mpath = directory / "manifest.json"
        manifest = read_manifest(
            directory, mpath.name, format=FORMAT, error=TransferError, what="a transfer bundle"
        )
        _check_manifest(mpath, manifest)
        bundle = cls(directory, manifest)
        vocab = manifest["vocabulary"]
        bundle._check_file(vocab["file"], vocab["sha256"])
        for kind, entry in manifest["components"].items():
            cdir = directory / kind
            if cdir.is_symlink() or not cdir.is_dir():
                raise TransferError(f"{cdir}: missing, or not a directory of the bundle")
            present = sorted(p.name for p in cdir.iterdir())
            pickled = [n for n in present if n.endswith(_PICKLED)]
            if pickled:
                raise TransferError(
                    f"{cdir}: holds pickle-based files ({', '.join(pickled)}); bundles carry "
                    "safetensors only and nothing is unpickled"
                )
            listed = {entry["weights"]["file"], *entry["files"]}
            unlisted = [n for n in present if f"{kind}/{n}" not in listed]
            if unlisted:
                raise TransferError(
                    f"{cdir}: holds files manifest.json does not list ({', '.join(unlisted)}); "
                    "a bundle carries only files with a digest"
                )
            for name, digest in entry["files"].items():
                bundle._check_file(name, digest)
            bundle._check_file(entry["weights"]["file"], entry["weights"]["sha256"])
            bundle._check_weights(entry["weights"])
        return bundle

    def _check_file(self, name: str, digest: str) -> None:
        """Refuses a file of the manifest unless it resolves inside the bundle (no symlink
        leading out), is a plain file and matches ``digest``."""
        p = self.directory / name
        if not p.resolve().is_relative_to(self.directory.resolve()):
            raise TransferError(f"{p}: a symlink leading out of the bundle ({p.resolve()})")
        if not p.is_file():
            raise TransferError(f"{p}: missing (an incomplete bundle)")
        if _sha256(p) != digest:
            raise TransferError(f"{p}: contents differ from manifest.json (sha256); corrupt?")

    def _check_weights(self, weights: dict[str, Any]) -> None:
        from safetensors import SafetensorError, safe_open

        p = self.directory / weights["file"]
        want = weights["tensors"]
        try:
            with safe_open(str(p), framework="pt") as fh:
                got = {
                    k: {
                        "shape": list(fh.get_slice(k).get_shape()),
                        "dtype": _DTYPES.get(fh.get_slice(k).get_dtype(), "?"),
                    }
                    for k in fh.keys()  # noqa: SIM118 (a safetensors handle, not a dict)
                }
        except (OSError, SafetensorError) as exc:
            raise TransferError(f"{p}: not a readable safetensors file ({exc})") from exc
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        if missing or extra:
            raise TransferError(
                f"{p}: tensors differ from manifest.json (missing {missing}, unexpected {extra})"
            )
        for name, spec in want.items():
            if got[name] != spec:
                raise TransferError(
                    f"{p}: tensor {name!r} is {tuple(got[name]['shape'])} {got[name]['dtype']}, "
                    f"manifest.json says {tuple(spec['shape'])} {spec['dtype']}"
                )

    # -- contents -----------------------------------------------------------------------

    @property
    def components(self) -> list[str]:
        return list(self.manifest.get("components", {}))

    def entry(self, kind: str) -> dict[str, Any]:
        """The manifest entry of a component (type, config, metrics, weights, files)."""
        try:
            return self.manifest["components"][kind]
        except KeyError:
            have = ", ".join(self.components) or "none"
            raise TransferError(f"{self.directory}: no {kind!r} component (has {have})") from None

    def config(self, kind: str) -> dict[str, Any]:
        return self.entry(kind)["config"]

    def tensors(self, kind: str, expect: dict[str, tuple[int, ...]] | None = None):
        """The component's tensors (validated on :meth:`load`); with ``expect``, also
        checks the shapes a caller needs (name -> shape), naming the file and tensor."""
        from safetensors.torch import load_file

        p = self.directory / self.entry(kind)["weights"]["file"]
        out = load_file(str(p))
        for name, shape in (expect or {}).items():
            if name not in out:
                raise TransferError(f"{p}: no tensor {name!r}")
            if tuple(out[name].shape) != tuple(shape):
                raise TransferError(
                    f"{p}: tensor {name!r} has shape {tuple(out[name].shape)}, expected "
                    f"{tuple(shape)}"
                )
        return out

    def file(self, kind: str, name: str) -> bytes:
        """An extra file of a component (e.g. the adapter's ``adapter_config.json``)."""
        key = f"{kind}/{name}"
        if key not in self.entry(kind).get("files", {}):
            raise TransferError(f"{self.directory}: component {kind!r} has no file {name!r}")
        return (self.directory / key).read_bytes()

    def _vocabulary(self) -> dict[str, tuple[list[str], list[str]]]:
        if self._vocab is None:
            p = self.directory / self.manifest["vocabulary"]["file"]
            try:
                raw = json.loads(p.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise TransferError(f"{p}: unreadable ({exc})") from exc
            if not isinstance(raw, dict):
                raise TransferError(f"{p}: not a JSON object")
            vocab = {}
            for kind in ("entities", "relations"):
                rows = raw.get(kind, [])
                if not isinstance(rows, list) or not all(
                    isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r)
                    for r in rows
                ):
                    raise TransferError(f"{p}: field {kind!r} is not a list of [term, label]")
                if len(rows) != self.manifest["vocabulary"][kind]:
                    raise TransferError(
                        f"{p}: {len(rows)} {kind}, manifest.json says "
                        f"{self.manifest['vocabulary'][kind]}"
                    )
                vocab[kind] = ([r[0] for r in rows], [r[1] for r in rows])
            self._vocab = vocab
        return self._vocab

    @property
    def entities(self) -> tuple[list[str], list[str]]:
        """(terms, labels) of the source entity ids."""
        return self._vocabulary()["entities"]

    @property
    def relations(self) -> tuple[list[str], list[str]]:
        """(terms, labels) of the source relation ids."""
        return self._vocabulary()["relations"]

    def __repr__(self) -> str:
        return f"Bundle({str(self.directory)!r}, components={self.components})"


def _check_manifest(mpath: Path, manifest: dict[str, Any]) -> None:
    """Refuses a manifest whose fields a reader relies on have the wrong type, naming the
    field (``components.policy.weights.sha256``), instead of failing later with an
    AttributeError or KeyError deep in an import."""

    def need(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
        field = f"{where}.{key}" if where else key
        if key not in obj:
            raise TransferError(f"{mpath}: field {field!r} is missing")
        value = obj[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            want = {dict: "an object", str: "a string", int: "an integer", list: "a list"}
            expected = want.get(kind, str(kind)) if isinstance(kind, type) else "valid"
            raise TransferError(
                f"{mpath}: field {field!r} is {_kind_of(value)}, expected {expected}"
            )
        return value

    def placed(value: str, expected: str, field: str) -> None:
        if value != expected:
            raise TransferError(
                f"{mpath}: field {field!r} is {value!r}, expected {expected!r} (the bundle "
                "layout; nothing outside it is read)"
            )

    def digest(obj: dict[str, Any], key: str, where: str) -> None:
        value = obj.get(key)
        if value is None:
            raise TransferError(
                f"{mpath}: field '{where}.{key}' is missing; every file of a bundle carries a "
                "sha256 (export it again with this version)"
            )
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            raise TransferError(f"{mpath}: field '{where}.{key}' is not a hex sha256")

    if "source" in manifest:
        need(manifest, "source", dict, "")
    vocab = need(manifest, "vocabulary", dict, "")
    placed(need(vocab, "file", str, "vocabulary"), "vocabulary.json", "vocabulary.file")
    digest(vocab, "sha256", "vocabulary")
    for key in ("entities", "relations"):
        need(vocab, key, int, "vocabulary")
    components = need(manifest, "components", dict, "")
    for kind, entry in components.items():
        where = f"components.{kind}"
        if kind not in COMPONENTS:
            raise TransferError(
                f"{mpath}: unknown component {kind!r} (expected one of {', '.join(COMPONENTS)})"
            )
        need(components, kind, dict, "components")
        if need(entry, "type", str, where) != kind:
            raise TransferError(f"{mpath}: field '{where}.type' is {entry['type']!r}, not {kind!r}")
        need(entry, "config", dict, where)
        if "metrics" in entry:
            need(entry, "metrics", dict, where)
        entry.setdefault("metrics", {})
        files = entry.setdefault("files", {})
        need(entry, "files", dict, where)
        for name in files:
            plain = name.removeprefix(f"{kind}/")
            if not _PLAIN.fullmatch(plain) or plain in (".", ".."):
                plain = "NAME"  # a name with a separator, or none: show the expected form
            placed(name, f"{kind}/{plain}", f"{where}.files")
            digest(files, name, f"{where}.files")
        weights = need(entry, "weights", dict, where)
        file = need(weights, "file", str, f"{where}.weights")
        placed(file, f"{kind}/{COMPONENTS[kind]}", f"{where}.weights.file")
        digest(weights, "sha256", f"{where}.weights")
        tensors = need(weights, "tensors", dict, f"{where}.weights")
        for name, spec in tensors.items():
            at = f"{where}.weights.tensors.{name}"
            spec = need(tensors, name, dict, f"{where}.weights.tensors")
            shape = need(spec, "shape", list, at)
            need(spec, "dtype", str, at)
            if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
                raise TransferError(f"{mpath}: field '{at}.shape' is not a list of sizes")


def _kind_of(value: Any) -> str:
    """How a JSON value is named in a refusal: ``a str ('zz')``, ``null``, ..."""
    if value is None:
        return "null"
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return f"a {type(value).__name__} ({shown})"
