"""The Registry every kind of extension uses, and the registries' link to the contract suites."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kgagent._registry import Registry
from kgagent.embeddings import MODELS
from kgagent.errors import ConfigError, EmbeddingError, EncoderError, KGAgentError, StoreError
from kgagent.kg import STORE_BACKENDS
from kgagent.llm import LLM_BACKENDS
from kgagent.retrieval import ENCODERS
from tests.contract import cases


def test_register_get_names_and_mapping_view():
    reg = Registry("widget", error=ConfigError)
    reg.register("hashing", "kgagent.retrieval.encoder", "HashingEncoder")
    reg.register("adj", "kgagent.kg.adjacency", "Adjacency")
    from kgagent.kg.adjacency import Adjacency
    from kgagent.retrieval.encoder import HashingEncoder

    assert reg.names() == ["hashing", "adj"] == list(reg)
    assert len(reg) == 2 and "adj" in reg and "nope" not in reg and 3 not in reg
    assert reg.get("hashing") is HashingEncoder and reg["adj"] is Adjacency
    assert reg.entry("adj").target == "kgagent.kg.adjacency:Adjacency"
    with pytest.raises(KeyError):
        reg["nope"]
    reg.unregister("adj")
    assert reg.names() == ["hashing"]


def test_unknown_name_names_the_known_ones():
    reg = Registry("widget", error=StoreError)
    reg.register("b", "m", "B")
    reg.register("a", "m", "A")
    with pytest.raises(StoreError, match=r"unknown widget 'c'; registered: a, b") as info:
        reg.get("c")
    assert isinstance(info.value, KGAgentError)
    custom = Registry("widget", message="{name!r}: one of {names}")
    custom.register("b", "m", "B")
    custom.register("a", "m", "A")
    with pytest.raises(KGAgentError, match=r"^'c': one of b, a$"):
        custom.get("c")


def test_bad_entries_fail_on_first_get_with_the_kind_error():
    reg = Registry("widget", error=EncoderError)
    reg.register("gone", "kgagent.no_such_module", "X")
    reg.register("typo", "kgagent.retrieval.encoder", "NoSuchEncoder")
    with pytest.raises(EncoderError, match=r"cannot import kgagent\.no_such_module"):
        reg.get("gone")
    with pytest.raises(EncoderError, match="has no 'NoSuchEncoder'"):
        reg.get("typo")
    with pytest.raises(TypeError):
        reg.register("", "m", "A")


def test_case_insensitive_registry():
    reg = Registry("model", case_sensitive=False)
    reg.register("TransE", "kgagent.embeddings.models", "TransE")
    assert reg.names() == ["transe"] and "TRANSE" in reg
    assert reg.get("TransE").__name__ == "TransE"


def test_the_four_registries_and_their_errors():
    assert STORE_BACKENDS.names() == ["oxigraph", "sparql"]
    assert ENCODERS.names() == ["minilm", "sentence-transformers", "hashing", "static"]
    assert LLM_BACKENDS.names() == ["transformers", "openai"]
    assert MODELS.names() == ["transe", "distmult", "complex", "rotate"]
    with pytest.raises(StoreError, match="unknown store 'x'; registered: oxigraph, sparql"):
        STORE_BACKENDS.get("x")
    with pytest.raises(EncoderError, match="unknown encoder 'x'; registered: hashing, minilm"):
        ENCODERS.get("x")
    with pytest.raises(ConfigError, match="llm backend 'x': expected one of transformers, openai"):
        LLM_BACKENDS.get("x")
    with pytest.raises(EmbeddingError, match="model 'X': expected one of transe, distmult"):
        MODELS.get("X")


def test_declaring_the_registries_imports_nothing_heavy():
    code = (
        "import sys; import kgagent.kg, kgagent.retrieval, kgagent.llm, kgagent.embeddings;"
        "print(sorted(m for m in ('torch', 'faiss', 'transformers', 'sentence_transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("registry", "params"),
    [
        (STORE_BACKENDS, cases.store_params),
        (ENCODERS, cases.encoder_params),
        (LLM_BACKENDS, cases.llm_params),
        (MODELS, cases.kge_params),
    ],
    ids=["stores", "encoders", "llms", "kge"],
)
def test_every_registered_name_is_a_contract_parameter(registry, params):
    """Registering a name is what adds it to its contract suite (cases or the default)."""
    assert {p.values[0].name for p in params()} == set(registry.names())
    registry.register("contract-probe", "kgagent.retrieval.encoder", "HashingEncoder")
    try:
        probes = [p for p in params() if p.values[0].name == "contract-probe"]
        assert [p.id for p in probes] == ["contract-probe"]
    finally:
        registry.unregister("contract-probe")


def test_a_name_without_a_case_is_skipped_with_a_reason(request):
    ENCODERS.register("contract-needs-args", "kgagent.retrieval.encoder", "_normalize")
    try:
        [case] = [p.values[0] for p in cases.encoder_params() if p.id == "contract-needs-args"]
        with pytest.raises(pytest.skip.Exception, match="add a case for it"):
            case.make(request)
    finally:
        ENCODERS.unregister("contract-needs-args")
