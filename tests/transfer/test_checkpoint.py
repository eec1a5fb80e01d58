"""Bundles: bit-exact round trips, import across IRIs, and clear refusals of bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from kgagent.embeddings.artifact import embedding_dir, load_workspace
from kgagent.pipeline.policy import policy_queries
from kgagent.policy import PathReasoner
from kgagent.transfer import Bundle, TransferError
from tests.transfer.conftest import CONFIG, OTHER, director_questions, make_workspace


@pytest.fixture(scope="module")
def trained(source):
    """The source agent with an embedding and a (fake, tiny) LoRA adapter as well."""
    from kgagent.embeddings import TripleSplits, train

    data = TripleSplits.from_kg(source.kg, heldout=0.05)  # the agent holds the store open
    train(data=data, model="distmult", out=embedding_dir(source.workspace, "dm"), dim=8,
          epochs=3, eval_every=0, progress=False)  # fmt: skip
    adapter = source.workspace / "adapters" / "default"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 2}')
    gen = torch.Generator().manual_seed(0)
    save_file({"base.q.lora_A.weight": torch.randn(2, 8, generator=gen),
               "base.q.lora_B.weight": torch.randn(8, 2, generator=gen)},
              str(adapter / "adapter_model.safetensors"))  # fmt: skip
    return source


@pytest.fixture(scope="module")
def bundle(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle") / "b"
    trained.export(path, components=["embeddings", "policy", "adapter"])
    return Bundle.load(path)


def _policy_state(agent):
    return agent.retriever.policy.network.state_dict()


def test_export_writes_a_manifest_and_bit_exact_weights(trained, bundle):
    m = bundle.manifest
    assert m["format"] == "kgagent-transfer/1" and set(bundle.components) == {
        "embeddings", "policy", "adapter"}  # fmt: skip
    assert m["libraries"]["torch"] == torch.__version__.split("+")[0] or m["libraries"]["torch"]
    assert m["source"]["encoder"] == "hashing-256"
    assert m["components"]["policy"]["config"]["network"]["mode"] == "question"
    assert "valid" in m["components"]["policy"]["metrics"]
    spec = m["components"]["policy"]["weights"]["tensors"]["action.weight"]
    assert spec == {"shape": [2 * 4 + 2, 16], "dtype": "float32"}  # 4 relations, STOP, START
    terms, labels = bundle.relations
    assert terms == trained.kg.vocab.relations.terms and "directed by" in labels
    assert bundle.entities[0] == trained.kg.vocab.entities.terms
    policy = bundle.tensors("policy")
    for name, value in _policy_state(trained).items():
        assert torch.equal(policy[name], value), name
    emb = load_workspace(trained.workspace, "dm", kg=trained.kg).model.state_dict()
    got = bundle.tensors("embeddings")
    assert all(torch.equal(got[k], v) for k, v in emb.items())
    adapter_dir = trained.workspace / "adapters" / "default"
    assert (bundle.directory / "adapter" / "adapter_model.safetensors").read_bytes() == (
        adapter_dir / "adapter_model.safetensors").read_bytes()  # fmt: skip
    assert bundle.file("adapter", "adapter_config.json") == (
        adapter_dir / "adapter_config.json").read_bytes()  # fmt: skip


def test_import_into_the_same_graph_is_bit_exact(trained, bundle, tmp_path, kb):
    copy = make_workspace(tmp_path / "copy", kb)
    try:
        report = copy.import_(bundle)
        assert report["coverage"]["entities"]["by_method"]["iri"]["fraction"] == 1.0
        assert report["coverage"]["relations"]["fraction"] == 1.0
        loaded = PathReasoner.load(copy.workspace / "policy" / "default",
                                   copy.retriever.adj, copy.retriever.relation_terms)  # fmt: skip
        for name, value in _policy_state(trained).items():
            assert torch.equal(loaded.network.state_dict()[name], value), name
        assert copy.retriever.policy is not None
        with pytest.raises(TransferError, match=r"policy/default: exists; import under another"):
            copy.import_(bundle, components=["policy"])
        again = copy.import_(bundle, components=["policy"], names={"policy": "second"})
        assert again["written"]["policy"].endswith("policy/second")
        copy.import_(bundle, components=["policy"], overwrite=True)
        emb = load_workspace(copy.workspace, "dm", kg=copy.kg).model.state_dict()
        src = load_workspace(trained.workspace, "dm", kg=trained.kg).model.state_dict()
        assert all(torch.equal(emb[k], v) for k, v in src.items())
        assert (
            copy.workspace / "adapters" / "default" / "adapter_model.safetensors"
        ).read_bytes() == (
            trained.workspace / "adapters" / "default" / "adapter_model.safetensors"
        ).read_bytes()
    finally:
        copy.close()


def test_import_across_iris_aligns_by_label_and_keeps_what_was_learned(trained, bundle, target):
    report = target.import_(bundle, components=["policy", "embeddings"])
    ents, rels = report["coverage"]["entities"], report["coverage"]["relations"]
    # 22 films and people, and the two relations (entities too: they are typed rdf:Property)
    assert ents["fraction"] == 1.0 and ents["by_method"]["label"]["count"] == 24
    assert ents["by_method"]["iri"]["count"] == 1  # rdf:Property itself
    assert rels["by_method"]["label"]["count"] == 2  # directed by, starred actors
    assert rels["by_method"]["iri"]["count"] == 2  # rdf:type, rdfs:label are shared IRIs
    # the embedding rows are the source's, permuted to the target's ids
    src = load_workspace(trained.workspace, "dm", kg=trained.kg).model
    dst = load_workspace(target.workspace, "dm", kg=target.kg).model
    s_terms, t_terms = trained.kg.vocab.entities.terms, target.kg.vocab.entities.terms
    for i, term in enumerate(t_terms):
        if term.startswith(f"<{OTHER}entity/"):
            j = s_terms.index(term.replace(OTHER, "http://kgagent.local/kg/"))
            assert torch.equal(dst.entity[i], src.entity[j])
    # ... and the policy walks the new graph as well as the old one
    pairs = director_questions()
    old, _ = policy_queries(trained.retriever, pairs)
    new, _ = policy_queries(target.retriever, pairs)
    before = trained.retriever.policy.evaluate(old)["hits_at_1"]
    assert before > 0.9 and target.retriever.policy.evaluate(new)["hits_at_1"] == before


def _copy(bundle, tmp_path):
    import shutil

    shutil.copytree(bundle.directory, tmp_path / "b")
    return tmp_path / "b"


def test_bad_bundles_are_refused_naming_the_file(bundle, tmp_path):
    with pytest.raises(TransferError, match=r"manifest\.json: missing"):
        Bundle.load(tmp_path)
    path = _copy(bundle, tmp_path)
    weights = path / "policy" / "weights.safetensors"
    state = load_file(str(weights))
    state["action.weight"] = torch.zeros(7, 16)
    save_file(state, str(weights))
    with pytest.raises(TransferError, match=r"weights.safetensors: contents differ"):
        Bundle.load(path)
    # a consistent digest does not hide a shape the manifest does not describe
    manifest = json.loads((path / "manifest.json").read_text())
    import hashlib

    manifest["components"]["policy"]["weights"]["sha256"] = hashlib.sha256(
        weights.read_bytes()).hexdigest()  # fmt: skip
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TransferError, match=r"tensor 'action.weight' is \(7, 16\) float32, "
                       r"manifest.json says \(10, 16\) float32"):  # fmt: skip
        Bundle.load(path)


def test_pickles_and_foreign_formats_are_refused(bundle, tmp_path):
    path = _copy(bundle, tmp_path)
    (path / "adapter" / "adapter_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(TransferError, match="pickle-based"):
        Bundle.load(path)
    (path / "adapter" / "adapter_model.bin").unlink()
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "format": "other/9"}))
    with pytest.raises(TransferError, match="format 'other/9'"):
        Bundle.load(path)


def test_wrong_shapes_and_encoders_are_clear_errors(bundle, target):
    with pytest.raises(TransferError, match=r"tensor 'head.0.weight' has shape \(16, 32\), "
                       r"expected \(16, 64\)"):  # fmt: skip
        bundle.tensors("policy", expect={"head.0.weight": (16, 64)})
    with pytest.raises(TransferError, match=r"no 'nothing' component \(has embeddings, policy"):
        Bundle.load(bundle.directory).entry("nothing")
    from kgagent.transfer.exchange import align_agent
    from kgagent.transfer.warmstart import warm_policy

    _, rels = align_agent(bundle, target.kg)
    r = target.retriever
    with pytest.raises(TransferError, match="features are 256-d, the target's 8-d"):
        warm_policy(bundle, adj=r.adj, relations=r.relation_terms, relation_alignment=rels,
                    action_features=np.zeros((9, 8), dtype=np.float32))  # fmt: skip
    bundle.manifest["source"]["encoder"] = "minilm-other"
    try:
        with pytest.raises(TransferError, match="'minilm-other' question vectors"):
            target.import_(bundle, components=["policy"])
    finally:
        bundle.manifest["source"]["encoder"] = "hashing-256"


def test_an_adapter_for_another_base_model_is_refused_before_anything_is_written(
    bundle, tmp_path, kb
):
    from kgagent.config import LLMConfig
    from kgagent.workspace import init_workspace

    assert bundle.config("adapter")["base_model"] == "smollm2"
    root = tmp_path / "other"
    other = CONFIG.model_copy(update={"llm": LLMConfig(backend="none", model="/models/llama")})
    init_workspace(root, config=other)
    agent = make_workspace(root, kb)
    try:
        with pytest.raises(TransferError, match=r"trained on llm.model 'smollm2'.*'/models/llama'"):
            agent.import_(bundle)
        assert not (root / "policy" / "default").exists()  # nothing written, not even the rest
        assert not (root / "adapters").exists()
    finally:
        agent.close()
