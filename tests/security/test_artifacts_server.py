"""Issue 19, items 5, 9, 10, 12 and 13 (exact_max): saved artifacts and the chat server.

Each test failed before its fix: a truncated ``facts.tsv`` was read as a smaller index
(retrieve found nothing, rc 0); a kill between ``atomic_dir``'s two renames left no
directory; a bundle could point outside itself with no digest; the server read bodies
before checking the key, had no read timeout and answered hostile JSON with 500.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from kgagent._io import atomic_dir, recover_dir
from kgagent.agents import Agent
from kgagent.artifact import read_manifest, write_manifest
from kgagent.config import AgentConfig, RetrievalConfig
from kgagent.errors import IndexLoadError, PolicyError
from kgagent.retrieval.artifacts import RetrievalIndex
from kgagent.retrieval.encoder import get_encoder
from kgagent.workspace import Workspace, init_workspace, open_kg

HASHING = AgentConfig(retrieval=RetrievalConfig(encoder="hashing"))
ROOT = Path(__file__).resolve().parents[2]


# -- item 5: every index file is checked against the manifest ------------------------------


@pytest.fixture
def ws(tmp_path, data_dir):
    root = init_workspace(tmp_path / "ws", config=HASHING)
    with open_kg(root) as kg:
        kg.load_triples(data_dir / "tiny_kb.txt")
    with Agent.open(root) as agent:
        agent.index()
    return root


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_truncated_fact_table_is_refused_naming_the_file(ws):
    facts = ws / "index" / "facts" / "texts.bin"
    facts.write_bytes(facts.read_bytes()[:-40])  # the last facts' sentences cut off
    before = facts.read_bytes()
    with Agent.open(ws) as agent, pytest.raises(IndexLoadError) as info:
        agent.retrieve("who directed Titanic")
    assert str(info.value).startswith(f"{facts}: ")
    assert "manifest.json says" in str(info.value) and "kgagent index" in str(info.value)
    assert facts.read_bytes() == before  # a refused read changes nothing
    with Agent.open(ws) as agent:  # the documented repair: rebuild
        agent.index()
        assert agent.retrieve("who directed Titanic", k=1).facts


def test_an_index_saved_before_the_inventory_is_still_checked_by_row_count(ws):
    manifest = ws / "index" / "manifest.json"
    old = json.loads(manifest.read_text())
    for key in ("inventory", "relations"):  # the fields this fix added
        del old[key]
    manifest.write_text(json.dumps(old))
    with Agent.open(ws) as agent:  # an intact old index still opens
        assert agent.retrieve("who directed Titanic", k=1).facts
    ids = ws / "index" / "facts" / "ids.npy"
    ids.write_bytes(ids.read_bytes()[:-16])  # 2 of 11 ids cut off
    with Agent.open(ws) as agent, pytest.raises(IndexLoadError, match=r"ids\.npy: "):
        agent.retrieve("who directed Titanic")


@pytest.mark.parametrize(
    "name",
    [
        "facts/ids.npy",
        "facts/texts.bin",
        "relations.json",
        "vectors/ids.npy",
        "vectors/vectors.npy",
        "linker/entities.json",
        "linker/popularity.npy",
        "linker/labels/vectors.npy",
    ],
)
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_every_index_file_is_checked_by_size_and_digest(ws, name, damage):
    path = ws / "index" / name
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-7])
    else:
        _flip_a_byte(path)  # same size: only the digest can tell
    with Agent.open(ws) as agent, pytest.raises(IndexLoadError) as info:
        agent.retrieve("who directed Titanic")
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert ("bytes, manifest.json says" if damage == "truncate" else "(sha256)") in message


def test_a_missing_index_file_is_named(ws):
    (ws / "index" / "relations.json").unlink()
    with Agent.open(ws) as agent, pytest.raises(IndexLoadError, match=r"relations\.json: missing"):
        agent.retrieve("who directed Titanic")


def test_a_manifest_with_an_inventory_vouches_for_its_files_in_every_part(tmp_path):
    """The check lives in :func:`read_manifest`: any part that writes ``inventory=True``
    (policy, embedding, ...) gets it with its own error class."""
    (tmp_path / "weights.bin").write_bytes(b"\0" * 100)
    write_manifest(tmp_path, "config.json", format="kgagent-policy/1", inventory=True)
    read_manifest(tmp_path, "config.json", format="kgagent-policy/1", error=PolicyError)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 99)
    with pytest.raises(PolicyError, match=r"weights\.bin: 99 bytes, config\.json says 100"):
        read_manifest(tmp_path, "config.json", format="kgagent-policy/1", error=PolicyError)
    (tmp_path / "metrics.json").write_text("{}")  # rewritten later: left out by name
    write_manifest(tmp_path, "config.json", format="x/1", inventory=["weights.bin"])
    (tmp_path / "metrics.json").write_text('{"more": 1}')
    assert set(read_manifest(tmp_path, "config.json", format="x/1")["inventory"]) == {"weights.bin"}
    bad = {"format": "x/1", "inventory": {"../outside": {"size": 1}}}
    (tmp_path / "config.json").write_text(json.dumps(bad))
    with pytest.raises(PolicyError, match=r"field 'inventory' has a bad entry '\.\./outside'"):
        read_manifest(tmp_path, "config.json", format="x/1", error=PolicyError)


# -- item 9: a directory swap cut short is finished on the next open ------------------------


def _save(path: Path, version: str) -> None:
    with atomic_dir(path) as tmp:
        (tmp / "data.txt").write_text(version)
        write_manifest(tmp, "manifest.json", format="test/1", inventory=True)


def _read(path: Path) -> str:
    read_manifest(path, "manifest.json", format="test/1")  # recovers, then checks
    return (path / "data.txt").read_text()


def _litter(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


class _Killed(BaseException):
    """Stands for SIGKILL: nothing in atomic_dir catches it, so no cleanup code runs."""


@pytest.mark.parametrize(
    ("crash_at", "expect"),
    [(1, "old"), (2, "new"), (3, "new")],  # 1: before the commit; 2, 3: after it
)
def test_a_save_killed_between_its_renames_is_recovered_on_open(
    tmp_path, monkeypatch, crash_at, expect
):
    path = tmp_path / "index"
    _save(path, "old")
    real, calls = os.replace, []

    def replace(src, dst):
        if Path(dst).parent == tmp_path:  # the swap's renames (not the manifest's own)
            calls.append((src, dst))
            if len(calls) == crash_at:
                raise _Killed
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(_Killed):
        _save(path, "new")
    monkeypatch.setattr(os, "replace", real)
    if crash_at == 3:
        assert not path.exists()  # the state the review found: no index at all
    assert _read(path) == expect
    assert _litter(path) == []


def test_a_killed_process_is_recovered_and_its_temp_dir_removed(tmp_path):
    path = tmp_path / "index"
    _save(path, "old")
    script = textwrap.dedent(
        f"""
        import os
        from kgagent._io import atomic_dir
        real, n = os.replace, [0]
        def replace(src, dst):
            n[0] += 1
            if n[0] == 3:  # new version committed, old moved aside: die here
                os._exit(9)
            real(src, dst)
        os.replace = replace
        with atomic_dir({str(path)!r}) as tmp:
            (tmp / "data.txt").write_text("new")
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=60)
    assert killed.returncode == 9 and not path.exists()
    # and a save killed inside its block leaves a temp directory behind
    script = f"from kgagent._io import atomic_dir\nwith atomic_dir({str(path)!r}) as t:\n"
    script += "    (t / 'half').write_text('x'); import os; os._exit(9)\n"
    assert subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=60).returncode == 9
    assert any(n.endswith(".tmp") for n in _litter(path))
    assert recover_dir(path)
    assert (path / "data.txt").read_text() == "new"
    assert _litter(path) == []


def test_a_concurrent_save_in_progress_is_not_cleaned_up(tmp_path):
    path = tmp_path / "index"
    _save(path, "old")
    inside, release = threading.Event(), threading.Event()
    errors = []

    def slow_save():
        try:
            with atomic_dir(path) as tmp:
                (tmp / "data.txt").write_text("slow")
                write_manifest(tmp, "manifest.json", format="test/1")
                inside.set()
                release.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=slow_save)
    t.start()
    assert inside.wait(10)
    temps = [n for n in _litter(path) if n.endswith(".tmp")]
    assert len(temps) == 1
    assert not recover_dir(path)  # the lock is held: the temp dir is a live save's
    assert _read(path) == "old"
    assert [n for n in _litter(path) if n.endswith(".tmp")] == temps
    release.set()
    t.join(10)
    assert not errors and _read(path) == "slow" and _litter(path) == []


def test_an_old_copy_from_an_earlier_release_is_put_back(tmp_path):
    path = tmp_path / "index"
    _save(path, "old")
    os.rename(path, tmp_path / ".index.old-4242")  # the name the previous atomic_dir used
    assert _read(path) == "old" and _litter(path) == []


def test_a_retrieval_index_killed_mid_swap_opens_without_a_rebuild(ws, monkeypatch):
    index = ws / "index"
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(Path(dst).name)
        if Path(dst) == index:  # the last rename of the index directory itself
            raise _Killed
        real(src, dst)

    with Agent.open(ws) as agent:
        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(_Killed):
            agent.index()
        monkeypatch.setattr(os, "replace", real)
    assert not index.exists()
    with Agent.open(ws) as agent:
        assert agent.retrieve("who directed Titanic", k=1).facts[0].object_label == "James Cameron"
    assert _litter(index) == []


def test_a_failed_block_leaves_the_previous_version_and_no_litter(tmp_path):
    path = tmp_path / "index"
    _save(path, "old")
    with pytest.raises(RuntimeError), atomic_dir(path) as tmp:
        (tmp / "data.txt").write_text("half")
        raise RuntimeError("encoder failed")
    assert _read(path) == "old" and _litter(path) == []


def test_recovery_is_a_no_op_on_a_clean_directory(tmp_path):
    path = tmp_path / "index"
    _save(path, "v1")
    assert not recover_dir(path) and not recover_dir(tmp_path / "absent")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


# -- item 13 (part): retrieval.exact_max on an existing index ------------------------------


def _vectors_manifest(ws: Path) -> dict:
    return json.loads((ws / "index" / "vectors" / "manifest.json").read_text())


def test_the_configured_exact_max_applies_to_an_existing_index(ws):
    assert _vectors_manifest(ws)["kind"] == "flat"
    # float32 storage: past exact_max, HNSW (``auto`` would keep 11 facts flat: too few
    # to train IVF-PQ on)
    Workspace(ws).write_config(
        AgentConfig(retrieval=RetrievalConfig(encoder="hashing", exact_max=5, vectors="float32"))
    )
    with Agent.open(ws) as agent:  # `kgagent index WS` after editing kgagent.yaml
        report = agent.index()
    assert (report.kind, report.encoded) == ("hnsw", 0)  # re-indexed, not re-encoded
    m = _vectors_manifest(ws)
    assert (m["kind"], m["exact_max"]) == ("hnsw", 5)
    with Agent.open(ws) as agent:
        ev = agent.retrieve("who directed Titanic", k=1)
        assert ev.facts[0].text == "Titanic was directed by James Cameron"
    Workspace(ws).write_config(HASHING)
    with Agent.open(ws) as agent:
        agent.index()  # back to the default: exact again
    assert _vectors_manifest(ws)["kind"] == "flat"


def test_opening_with_another_exact_max_warns_how_to_apply_it(ws, caplog):
    enc = get_encoder("hashing")
    with open_kg(ws) as kg:
        fingerprint = kg.fingerprint()
    with caplog.at_level("WARNING", logger="kgagent.retrieval.artifacts"):
        RetrievalIndex.load(ws / "index", encoder=enc, fingerprint=fingerprint, exact_max=5)
    assert "built with retrieval.exact_max 1000000" in caplog.text
    assert "configured 5 applies at the next `kgagent index`" in caplog.text
    caplog.clear()
    RetrievalIndex.load(ws / "index", encoder=enc, fingerprint=fingerprint, exact_max=1_000_000)
    assert "exact_max" not in caplog.text


# -- item 10: a bundle holds every file it names, each with a digest ------------------------


def _bundle(path: Path) -> Path:
    """A small valid bundle: a policy and an adapter (with its config file)."""
    import torch

    from kgagent.transfer.checkpoint import Component, write_bundle

    gen = torch.Generator().manual_seed(0)
    policy = Component(
        "policy", {"network": {"mode": "relation"}}, {"w": torch.randn(3, 2, generator=gen)}
    )
    adapter = Component(
        "adapter",
        {"name": "default", "peft": {"r": 2}, "base_model": "smollm2"},
        {"base.q.lora_A.weight": torch.randn(2, 4, generator=gen)},
        files={"adapter_config.json": b'{"peft_type": "LORA", "r": 2}'},
    )
    return write_bundle(
        path,
        entities=(["<e:a>", "<e:b>"], ["a", "b"]),
        relations=(["<r:p>"], ["p"]),
        components=[policy, adapter],
    )


def _edit(bundle: Path, change) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_a_bundle_written_now_has_a_digest_for_every_file(tmp_path):
    from kgagent.transfer import Bundle

    bundle = _bundle(tmp_path / "b")
    m = Bundle.load(bundle).manifest
    digests = {m["vocabulary"]["file"]: m["vocabulary"]["sha256"]}
    for entry in m["components"].values():
        digests[entry["weights"]["file"]] = entry["weights"]["sha256"]
        digests.update(entry["files"])
    on_disk = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()}
    assert on_disk - {"manifest.json"} == set(digests)
    assert all(len(d) == 64 for d in digests.values())


def test_a_weights_file_outside_the_bundle_without_a_digest_is_refused(tmp_path):
    from kgagent.transfer import Bundle, TransferError

    bundle = _bundle(tmp_path / "b")
    (tmp_path / "elsewhere").mkdir()
    os.rename(bundle / "policy" / "weights.safetensors", tmp_path / "elsewhere" / "w.safetensors")

    def outside(m):  # the review's bundle: a path out, and no sha256 to check it against
        m["components"]["policy"]["weights"]["file"] = "../elsewhere/w.safetensors"
        del m["components"]["policy"]["weights"]["sha256"]

    _edit(bundle, outside)
    with pytest.raises(TransferError, match=r"'components\.policy\.weights\.file' is '\.\./else"):
        Bundle.load(bundle)
    os.rename(tmp_path / "elsewhere" / "w.safetensors", bundle / "policy" / "weights.safetensors")
    _edit(
        bundle,
        lambda m: m["components"]["policy"]["weights"].update(file="policy/weights.safetensors"),
    )
    with pytest.raises(TransferError, match=r"'components\.policy\.weights\.sha256' is missing"):
        Bundle.load(bundle)  # in place, but without a digest: still refused


@pytest.mark.parametrize(
    "where", ["../elsewhere/w.safetensors", "/tmp/w.safetensors", "policy/../w.safetensors"]
)
def test_a_file_off_its_place_is_refused_even_with_a_good_digest(tmp_path, where):
    from kgagent.transfer import Bundle, TransferError

    bundle = _bundle(tmp_path / "b")
    _edit(bundle, lambda m: m["components"]["policy"]["weights"].update(file=where))
    with pytest.raises(TransferError) as info:
        Bundle.load(bundle)
    assert "field 'components.policy.weights.file'" in str(info.value)
    assert "expected 'policy/weights.safetensors'" in str(info.value)


def test_a_symlink_leading_out_of_the_bundle_is_refused(tmp_path):
    from kgagent.transfer import Bundle, TransferError

    bundle = _bundle(tmp_path / "b")
    weights = bundle / "policy" / "weights.safetensors"
    outside = tmp_path / "w.safetensors"
    os.rename(weights, outside)
    weights.symlink_to(outside)  # same bytes, same digest: only the path tells
    with pytest.raises(TransferError, match="a symlink leading out of the bundle"):
        Bundle.load(bundle)
    weights.unlink()
    os.rename(outside, weights)
    os.rename(bundle / "adapter", tmp_path / "adapter")
    (bundle / "adapter").symlink_to(tmp_path / "adapter", target_is_directory=True)
    with pytest.raises(TransferError, match=r"adapter: missing, or not a directory of the bundle"):
        Bundle.load(bundle)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: m.update(components="zz"),
            "field 'components' is a str ('zz'), expected an object",
        ),
        (lambda m: m.update(components={"zz": {}}), "unknown component 'zz'"),
        (lambda m: m["components"].update(policy=[1]), "field 'components.policy' is a list"),
        (lambda m: m.update(vocabulary=None), "field 'vocabulary' is null, expected an object"),
        (lambda m: m["vocabulary"].pop("sha256"), "field 'vocabulary.sha256' is missing"),
        (lambda m: m["vocabulary"].update(entities="2"), "field 'vocabulary.entities' is a str"),
        (lambda m: m.update(source="me"), "field 'source' is a str ('me'), expected an object"),
        (
            lambda m: m["components"]["adapter"]["files"].update(
                {"adapter/adapter_config.json": None}
            ),
            r"field 'components\.adapter\.files\.adapter/adapter_config\.json' is missing",
        ),
        (
            lambda m: m["components"]["policy"]["weights"].update(tensors={"w": {"shape": "3x2"}}),
            r"field 'components\.policy\.weights\.tensors\.w\.shape' is a str",
        ),
        (
            lambda m: m["components"]["policy"].update(type="adapter"),
            "'components.policy.type' is 'adapter'",
        ),
    ],
)
def test_a_malformed_bundle_manifest_names_the_field(tmp_path, change, message):
    from kgagent.transfer import Bundle, TransferError

    bundle = _bundle(tmp_path / "b")
    _edit(bundle, change)
    with pytest.raises(TransferError) as info:
        Bundle.load(bundle)
    assert str(info.value).startswith(f"{bundle / 'manifest.json'}: ")
    assert re.search(message if "\\" in message else re.escape(message), str(info.value))


def test_an_unlisted_file_in_a_component_is_refused(tmp_path):
    from kgagent.transfer import Bundle, TransferError

    bundle = _bundle(tmp_path / "b")
    (bundle / "adapter" / "tokenizer.json").write_text("{}")
    with pytest.raises(TransferError, match=r"does not list \(tokenizer\.json\)"):
        Bundle.load(bundle)


def test_importing_a_hostile_bundle_writes_nothing_and_a_good_one_imports(ws, tmp_path):
    from kgagent.transfer import TransferError, import_bundle

    bundle = _bundle(tmp_path / "b")
    good = tmp_path / "good"
    import shutil

    shutil.copytree(bundle, good)
    _edit(bundle, lambda m: m["components"]["adapter"]["weights"].pop("sha256"))
    with Agent.open(ws) as agent:
        with pytest.raises(TransferError, match="sha256' is missing"):
            import_bundle(agent, bundle, components="adapter")
        assert not (ws / "adapters").exists()
        report = import_bundle(agent, good, components="adapter")  # one name, not letters
    written = Path(report["written"]["adapter"])
    assert (written / "adapter_model.safetensors").read_bytes() == (
        good / "adapter" / "adapter_model.safetensors"
    ).read_bytes()
    assert json.loads((written / "adapter_config.json").read_text())["r"] == 2


# -- item 12: the OpenAI-compatible server under hostile clients ----------------------------


class _SlowLM:
    """The fake LLM (tests/fakes.py) with a cost: it encodes the prompt as a tokenizer
    would (a lone surrogate fails there) and takes ``per_char`` seconds per character, or
    waits for ``gate`` when given."""

    def __init__(self, per_char: float = 0.0, gate: threading.Event | None = None) -> None:
        from tests.fakes import OverlapLM

        self.fake, self.per_char, self.gate = OverlapLM(), per_char, gate
        self.name = self.fake.name

    def generate(self, conversations, *, max_new_tokens=64):
        import time

        text = "".join(m["content"] for c in conversations for m in c).encode("utf-8")
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.per_char * len(text))
        return self.fake.generate(conversations, max_new_tokens=max_new_tokens)


@pytest.fixture
def serve():
    """``serve(llm=None, **limits)`` -> (server, port), stopped at the end of the test;
    a read timeout of 0.5 s unless given."""
    from kgagent.llm.serve import OpenAIServer

    started = []

    def start(llm=None, **kwargs):
        kwargs.setdefault("read_timeout", 0.5)
        server = OpenAIServer(llm or _SlowLM(), **kwargs)
        port = int(server.start().rsplit(":", 1)[1].split("/")[0])
        started.append(server)
        return server, port

    yield start
    for server in started:
        server.stop()


def _chat(text: str, **extra) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": text}], **extra}).encode()


def _post(port: int, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def _head(content_length: int, extra: str = "") -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{extra}"
        f"Content-Length: {content_length}\r\n\r\n"
    ).encode()


def _recv_all(sock, timeout: float = 3.0) -> bytes:
    sock.settimeout(timeout)
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_stalled_uploads_are_dropped_after_the_read_timeout(serve):
    import socket
    import time

    _, port = serve()
    stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    for s in stalled:
        s.sendall(_head(100))  # the body never comes
    trickle = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    with pytest.raises(OSError):  # a byte every 0.1 s does not reset the deadline
        for ch in _head(10):
            trickle.sendall(bytes([ch]))
            time.sleep(0.1)
    assert time.monotonic() - t0 < 2.5
    for s in stalled:  # each was closed by the server (EOF), none is still held
        assert _recv_all(s) == b""
        s.close()
    trickle.close()
    assert _post(port, _chat("who directed Titanic"))[0] == 200


def test_the_api_key_is_checked_before_the_body_is_read(serve):
    import socket
    import time

    _, port = serve(api_key="sekret", read_timeout=5)
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    s.sendall(_head(1000, "Authorization: Bearer wrong\r\n"))  # and no body
    reply = _recv_all(s)
    assert reply.startswith(b"HTTP/1.1 401") and time.monotonic() - t0 < 2
    s.close()
    status, _ = _post(port, _chat("hi"), {"Authorization": "Bearer sekret"})
    assert status == 200


def test_an_oversized_body_is_413_and_the_client_can_read_it(serve):
    _, port = serve(max_body=10_000)
    status, body = _post(port, _chat("x" * 1_000_000))
    assert status == 413 and "over this server's limit of 10,000" in body["error"]["message"]


@pytest.mark.parametrize("depth", [33, 100_000])
def test_deeply_nested_json_is_400_without_a_traceback(serve, caplog, capfd, depth):
    _, port = serve()
    body = b'{"messages": ' + b"[" * depth + b"]" * depth + b"}"
    with caplog.at_level("INFO", logger="kgagent.llm.serve"):
        status, reply = _post(port, body)
    assert status == 400 and "nests deeper than 32 levels" in reply["error"]["message"]
    assert not [r for r in caplog.records if r.exc_info or r.levelname == "ERROR"]
    assert "Traceback" not in capfd.readouterr().err


def test_a_lone_surrogate_is_400_naming_the_field(serve):
    _, port = serve()
    status, reply = _post(port, b'{"messages": [{"role": "user", "content": "a\\ud800b"}]}')
    assert status == 400
    assert reply["error"]["message"] == (
        "body.messages[0].content: a lone surrogate (U+D800) at character 1 is not text"
    )
    ok = b'{"messages": [{"role": "user", "content": "\\ud83d\\ude00"}]}'  # a pair: an emoji
    assert _post(port, ok)[0] == 200


def test_a_client_that_disconnects_costs_one_log_line(serve, caplog, capfd):
    import socket
    import struct
    import time

    _, port = serve(_SlowLM(per_char=0.01))
    with caplog.at_level("INFO", logger="kgagent.llm.serve"):
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", port))
            body = _chat("x" * 20)  # ~0.2 s of model time; the client leaves meanwhile
            s.sendall(_head(len(body)) + body)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # a reset, not a polite close
        time.sleep(0.6)
        assert _post(port, _chat("still serving"))[0] == 200
    gone = [r for r in caplog.records if "went away" in r.getMessage()]
    assert len(gone) == 3 and not any(r.exc_info for r in caplog.records)
    assert "Traceback" not in capfd.readouterr().err


def test_one_huge_prompt_cannot_hold_the_model_for_everyone(serve):
    import time

    _, port = serve(_SlowLM(per_char=1e-6), max_prompt_chars=10_000, max_body=1 << 22)
    t0 = time.monotonic()
    status, reply = _post(port, _chat("x" * 2_000_000))  # 2 s of model time if accepted
    assert status == 400 and "2,000,000 characters" in reply["error"]["message"]
    assert "limit of 10,000 (max_prompt_chars)" in reply["error"]["message"]
    assert time.monotonic() - t0 < 1
    status, reply = _post(port, _chat("hi", max_tokens=100_000))
    assert status == 400 and "over this server's limit of 1024" in reply["error"]["message"]


def test_a_request_waits_for_the_model_at_most_queue_timeout(serve):
    import time

    gate = threading.Event()
    _, port = serve(_SlowLM(gate=gate), queue_timeout=0.3, read_timeout=5)
    first = {}
    t = threading.Thread(target=lambda: first.update(r=_post(port, _chat("first"))))
    t.start()
    time.sleep(0.2)  # the first holds the model
    t0 = time.monotonic()
    status, reply = _post(port, _chat("second"))
    assert status == 503 and reply["error"]["type"] == "server_busy"
    assert time.monotonic() - t0 < 2
    gate.set()
    t.join(5)
    assert first["r"][0] == 200


def test_connections_over_the_limit_get_503_at_once(serve):
    import socket

    _, port = serve(max_connections=2, read_timeout=2)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    for s in held:
        s.sendall(_head(100))
    import time

    time.sleep(0.1)
    extra = socket.create_connection(("127.0.0.1", port))
    assert _recv_all(extra, timeout=1).startswith(b"HTTP/1.1 503")
    for s in (*held, extra):
        s.close()
