"""write_manifest / read_manifest: one layout and one set of refusals for every saved part."""

from __future__ import annotations

import json

import pytest

from kgagent.artifact import MISSING, read_manifest, write_manifest
from kgagent.errors import IndexLoadError, IndexMismatchError, KGAgentError, TransferError

FMT = "kgagent-test/1"


def test_round_trip_with_the_format_tag(tmp_path):
    path = write_manifest(tmp_path / "d", "manifest.json", format=FMT, dim=4, encoder="e")
    assert path == tmp_path / "d" / "manifest.json"
    got = read_manifest(tmp_path / "d", "manifest.json", format=FMT, expect={"dim": 4})
    assert got == {"format": FMT, "dim": 4, "encoder": "e"}


def test_layout_sorted_by_default_or_in_the_order_given(tmp_path):
    write_manifest(tmp_path, "a.json", format=FMT, zeta=1, alpha={"y": 1, "x": "é"})
    text = (tmp_path / "a.json").read_text("utf-8")
    # the kgagent._io.atomic_write_json layout: sorted, indented, UTF-8, final newline
    assert (
        text
        == json.dumps(
            {"alpha": {"x": "é", "y": 1}, "format": FMT, "zeta": 1},
            indent=2,
            sort_keys=True,
            ensure_ascii=False,
        )
        + "\n"
    )
    write_manifest(tmp_path, "b.json", format=FMT, sort_keys=False, zeta=1, alpha={"y": 1})
    text = (tmp_path / "b.json").read_text("utf-8")
    assert text == json.dumps({"format": FMT, "zeta": 1, "alpha": {"y": 1}}, indent=2) + "\n"
    assert list(read_manifest(tmp_path, "b.json", format=FMT)) == ["format", "zeta", "alpha"]


def test_directory_and_name_may_also_be_fields(tmp_path):
    write_manifest(tmp_path, "m.json", format=FMT, directory="x", name="y")
    assert read_manifest(tmp_path, "m.json", format=FMT)["name"] == "y"


def test_an_old_hand_written_manifest_still_reads(tmp_path):
    # the parts wrote json.dumps(..., indent=2) (ASCII escapes, unsorted) before the helper
    (tmp_path / "manifest.json").write_text(json.dumps({"format": FMT, "w": "caf\u00e9"}))
    assert read_manifest(tmp_path, "manifest.json", format=FMT)["w"] == "café"


def test_missing_file_names_it_and_says_what_the_directory_should_be(tmp_path):
    with pytest.raises(TransferError, match=r"manifest\.json: missing \(not a bundle\)$"):
        read_manifest(tmp_path, "manifest.json", format=FMT, error=TransferError,
                      what="a bundle")  # fmt: skip
    with pytest.raises(KGAgentError, match=r"config\.json: missing$"):
        read_manifest(tmp_path, "config.json", format=FMT)
    with pytest.raises(KGAgentError) as info:
        read_manifest(tmp_path / "gone", "m.json", format=FMT, what="an index")
    assert (
        str(info.value)
        == f"{tmp_path / 'gone' / 'm.json'}: missing (not an index; no such directory)"
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{not json", "unreadable"),
        (b'{"format": "\xff"}', "unreadable"),  # not UTF-8
        (b'["format"]', "not a JSON object"),
        (b'{"dim": 4}', f"format '{MISSING}' is not '{FMT}'"),
        (b'{"format": "kgagent-test/0"}', f"format 'kgagent-test/0' is not '{FMT}'"),
    ],
)
def test_unreadable_or_foreign_files_are_refused_naming_the_file(tmp_path, data, problem):
    (tmp_path / "manifest.json").write_bytes(data)
    with pytest.raises(IndexLoadError) as info:
        read_manifest(tmp_path, "manifest.json", format=FMT, error=IndexLoadError)
    assert str(info.value).startswith(f"{tmp_path / 'manifest.json'}: {problem}")


def test_format_none_accepts_any_tag(tmp_path):
    (tmp_path / "manifest.json").write_text('{"format": "other/9"}')
    assert read_manifest(tmp_path, "manifest.json", format=None)["format"] == "other/9"
    (tmp_path / "manifest.json").write_text("[]")
    with pytest.raises(KGAgentError, match="not a JSON object"):
        read_manifest(tmp_path, "manifest.json", format=None)


def test_expect_and_require_name_the_field(tmp_path):
    write_manifest(tmp_path, "manifest.json", format=FMT, dim=16, encoder="hashing-16")
    with pytest.raises(IndexMismatchError, match="field 'dim' is 16, expected 384"):
        read_manifest(tmp_path, "manifest.json", format=FMT, expect={"dim": 384},
                      error=IndexLoadError, mismatch=IndexMismatchError)  # fmt: skip
    with pytest.raises(IndexLoadError, match=f"field 'fingerprint' is '{MISSING}', expected"):
        read_manifest(tmp_path, "manifest.json", format=FMT, expect={"fingerprint": "ab"},
                      error=IndexLoadError)  # fmt: skip
    with pytest.raises(KGAgentError, match="field 'count' is missing"):
        read_manifest(tmp_path, "manifest.json", format=FMT, require=["dim", "count"])
    # a value equal to the missing marker is not mistaken for a present field
    with pytest.raises(KGAgentError, match="field 'x' is"):
        read_manifest(tmp_path, "manifest.json", format=FMT, expect={"x": MISSING})
    got = read_manifest(tmp_path, "manifest.json", format=FMT, require=["dim"],
                        expect={"encoder": "hashing-16", "dim": 16})  # fmt: skip
    assert got["dim"] == 16


def test_the_format_is_checked_before_the_fields(tmp_path):
    write_manifest(tmp_path, "manifest.json", format="other/1", dim=16)
    with pytest.raises(IndexLoadError, match="format 'other/1'"):
        read_manifest(tmp_path, "manifest.json", format=FMT, expect={"dim": 384},
                      error=IndexLoadError, mismatch=IndexMismatchError)  # fmt: skip


def test_the_hint_follows_every_refusal(tmp_path):
    hint = "rebuild it with `kgagent index`"
    for data in (None, "{", '{"format": "x"}', json.dumps({"format": FMT})):
        if data is not None:
            (tmp_path / "manifest.json").write_text(data)
        with pytest.raises(KGAgentError) as info:
            read_manifest(tmp_path, "manifest.json", format=FMT, expect={"dim": 1}, hint=hint)
        assert str(info.value).endswith(f"; {hint}")


def test_a_failed_write_keeps_the_previous_manifest(tmp_path):
    write_manifest(tmp_path, "manifest.json", format=FMT, n=1)
    with pytest.raises(TypeError):
        write_manifest(tmp_path, "manifest.json", format=FMT, n=object())
    assert read_manifest(tmp_path, "manifest.json", format=FMT)["n"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


class _Encoder:
    name, dim = "hashing-16", 16


def _parts():
    """Each saved part's reader, its manifest file and its error class."""
    from kgagent.embeddings.models import KGEModel
    from kgagent.errors import EmbeddingError, PolicyError
    from kgagent.policy import load_reasoner
    from kgagent.retrieval.artifacts import RetrievalIndex
    from kgagent.retrieval.index import FactIndex
    from kgagent.retrieval.linker import EntityLinker
    from kgagent.transfer import Bundle

    return [
        ("kgagent-index/1", "manifest.json", IndexMismatchError,
         lambda d: RetrievalIndex.load(d, encoder=_Encoder(), fingerprint="f")),
        ("kgagent-faiss/1", "manifest.json", IndexLoadError, FactIndex.load),
        ("kgagent-linker/2", "manifest.json", IndexMismatchError, EntityLinker.load),
        ("kgagent-policy/1", "config.json", PolicyError, lambda d: load_reasoner(d, None, [])),
        ("kgagent-kge/1", "config.json", EmbeddingError, KGEModel.load),
        ("kgagent-transfer/1", "manifest.json", TransferError, Bundle.load),
    ]  # fmt: skip


@pytest.mark.parametrize("case", range(6))
def test_every_saved_part_refuses_another_format_through_the_helper(tmp_path, case):
    tag, name, error, load = _parts()[case]
    (tmp_path / name).write_text(json.dumps({"format": "other/0"}))
    with pytest.raises(error) as info:
        load(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / name}: format 'other/0' is not '{tag}'")
    (tmp_path / name).write_text("[1]")
    with pytest.raises(error, match=rf"{name}: not a JSON object"):
        load(tmp_path)
