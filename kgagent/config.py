"""The configuration tree (pydantic v2, unknown fields rejected), stored as kgagent.yaml.

Only the builder reads configuration; components take plain arguments. Errors name the
file and the offending field, e.g. ``kgagent.yaml: kg.store: Input should be ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from kgagent._io import atomic_write_text
from kgagent.errors import ConfigError
from kgagent.pipeline.settings import RetrievalWeights
from kgagent.text import MAX_QUESTION_CHARS

#: the pipeline's defaults, written once (kgagent/pipeline/settings.py)
_W = RetrievalWeights()

__all__ = [
    "CONFIG_VERSION",
    "AgentConfig",
    "KGConfig",
    "PolicySection",
    "QAConfig",
    "RetrievalConfig",
]

#: the kgagent.yaml format this version reads and writes
CONFIG_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KGConfig(_Strict):
    """Where the knowledge graph lives."""

    store: Literal["oxigraph", "sparql"] = "oxigraph"
    query_endpoint: str | None = Field(None, description="SPARQL endpoint (store: sparql)")
    update_endpoint: str | None = None
    graph_store_endpoint: str | None = Field(
        None, description="SPARQL 1.1 Graph Store endpoint for fast loads (store: sparql)"
    )
    lang: str = Field("en", description="preferred label language")
    allow_service: bool = Field(
        False,
        description="let SPARQL queries use SERVICE and updates LOAD, which make the store "
        "fetch a URL (off: whoever writes a query could point it at internal services)",
    )


class PQSection(_Strict):
    """IVF-PQ settings (retrieval.vectors: pq or auto); 0 = chosen from the index size."""

    bytes: int = Field(0, ge=0, description="code bytes per vector; 0: dim / 8")
    nlist: int = Field(0, ge=0, description="inverted lists; 0: about sqrt(facts)")
    nprobe: int = Field(0, ge=0, description="lists scanned per query; 0: nlist / 8")
    opq: bool = Field(False, description="learn a rotation first (slower training)")
    refine: int = Field(100, ge=0, description="candidates re-scored exactly (float16)")
    train_max: int = Field(100_000, ge=1024, description="training sample (bounds its time)")


class RetrievalConfig(_Strict):
    """How facts are indexed and retrieved."""

    encoder: str = Field("minilm", description="registered encoder name (minilm, hashing, ...)")
    encoder_kwargs: dict[str, Any] = Field(default_factory=dict)
    static_fit: int = Field(
        20_000,
        ge=0,
        description="encoder static: facts sampled to fit the static model to its teacher "
        "(MiniLM) on a full build (kgagent.retrieval.static_fit); 0: the distilled model as is",
    )
    exact_max: int = Field(1_000_000, gt=0, description="exact faiss search up to this size")
    vectors: Literal["auto", "float32", "float16", "pq"] = Field(
        "auto",
        description="how fact vectors are stored: float32 (exact up to exact_max, HNSW "
        "above), float16 (the same at half the memory), pq (IVF-PQ codes re-ranked from "
        "float16 rows on disk), auto (exact float32 up to exact_max, pq above)",
    )
    pq: PQSection = Field(default_factory=PQSection)
    k: int = Field(10, gt=0, description="facts returned per question")
    dense_k: int = Field(_W.dense_k, gt=0, description="facts found by dense search")
    relation_weight: float = Field(_W.relation, description="weight of relation relevance")
    link_weight: float = Field(_W.linked, description="weight of the entity link score")
    max_hops: int = Field(_W.max_hops, ge=1, le=4)
    topic_answers: bool = Field(
        _W.topic_answers,
        description="a question may be answered by its own topic entity ('the spouse of "
        "X's husband' is X, as in PathQuestion); off for MetaQA, whose gold never is",
    )
    linker_stopwords: list[str] = Field(
        default_factory=list,
        description="extra words the entity linker does not take for a name on their own (a "
        "span of only such words is a last resort): a dataset's question vocabulary "
        "('movie', 'film' for MetaQA). English question words "
        "and the words of the graph's relation and class labels (inflections included) "
        "are stopwords already; saved with the index, so changing this needs a re-index",
    )

    def vector_options(self) -> dict[str, Any]:
        """The vector index settings, as ``FactIndex`` / ``FactIndex.configure`` take them."""
        return {"exact_max": self.exact_max, "storage": self.vectors, "pq": self.pq.model_dump()}


class LLMConfig(_Strict):
    """The reader's LLM."""

    backend: Literal["transformers", "openai", "none"] = Field(
        "transformers", description="none: read without an LLM (retrieval's best candidate)"
    )
    model: str = Field(
        "smollm2",
        description="shipped alias, local model directory, or the "
        "model name an OpenAI-compatible server expects",
    )
    adapter: str | None = Field(
        "default", description="LoRA adapter in WORKSPACE/adapters/ (used if present)"
    )
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    quantize: Literal["none", "int8"] = Field(
        "none",
        description="int8: the local model's Linear layers as dynamic int8 at load (after "
        "the adapter merge; CPU, computes in fp32 around them, so not with precision bf16)",
    )
    batch_size: int = Field(16, gt=0)
    base_url: str | None = Field(None, description="OpenAI-compatible server (backend: openai)")
    api_key_env: str | None = Field(None, description="environment variable holding the key")
    timeout: float = Field(60.0, gt=0)
    min_confidence: float = Field(0.0, ge=0, le=1, description="abstain below this")
    prior_weight: float = Field(
        1.0, ge=0, description="weight of retrieval's option ranking beside the LLM's"
    )
    same_hops: bool = Field(
        True,
        description="the LLM chooses among the chains as long as retrieval's best (the "
        "ranker aligns the question's words to hops; a small LLM does not count them)",
    )
    base_model_reads: bool = Field(
        False,
        description="the shipped base model (smollm2) reads questions where no adapter is "
        "fine-tuned and training chose nothing; off by default: on MetaQA (300 held-out "
        "questions per hop) it lowered an index-only agent's Hits@1 at every hop "
        "(0.863 / 0.937 / 0.867 without it, 0.860 / 0.933 / 0.840 with it; PQ-2H 0.758 "
        "and 0.753; bench/zeroshot.py) and made ask 9 to 12x slower. Any other model, and "
        "an adapter, read as configured",
    )


class PolicySection(_Strict):
    """The path policy ``ask`` consults for multi-hop questions (see ``kgagent policy``)."""

    name: str | None = Field(
        "default", description="policy under WORKSPACE/policy/ (used when it exists)"
    )
    beam: int = Field(8, gt=0, description="walks kept by beam search")
    options: int = Field(
        4, gt=0, description="policy paths the reader weighs, at most (fewer if it is sure)"
    )
    min_share: float = Field(
        0.01, ge=0, le=1, description="drop policy paths less likely than this"
    )
    prior_weight: float = Field(
        3.0, ge=0, description="weight of the policy's path probabilities beside the LLM's"
    )
    decisive: float | None = Field(
        None,
        ge=0,
        le=1,
        description="answer from the policy alone, without the LLM, when its best path holds "
        "at least this share of the prior (None: always ask the LLM)",
    )


class QAConfig(_Strict):
    """How ``ask`` and ``ask_batch`` take questions (issue 19: bounded input, bounded memory)."""

    max_question_chars: int = Field(
        MAX_QUESTION_CHARS,
        gt=0,
        description="longer questions are refused with an error naming them",
    )
    batch_chunk: int = Field(
        64, gt=0, description="ask_batch reads this many questions at a time (bounds memory)"
    )
    programs: bool = Field(
        True,
        description="typed questions (counts, yes/no, constraints, superlatives, "
        "comparisons) answered by programs over the graph; off: every question reads chains",
    )
    programs_llm: bool = Field(
        False,
        description="the LLM ranks a typed question's answering programs (with the "
        "proposer's ranking as a prior); off by default: on MetaQA the fine-tuned 135M "
        "reader lowered typed accuracy (macro 0.98 -> 0.97, docs/benchmarks.md)",
    )


class AgentConfig(_Strict):
    """The whole configuration of an agent workspace (kgagent.yaml)."""

    version: int = CONFIG_VERSION
    name: str = "agent"
    kg: KGConfig = KGConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    llm: LLMConfig = LLMConfig()
    policy: PolicySection = PolicySection()
    qa: QAConfig = QAConfig()

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != CONFIG_VERSION:
            raise ValueError(
                f"version {value} is not supported: this kgagent reads version {CONFIG_VERSION} "
                "(a file written by another kgagent version?)"
            )
        return value

    @classmethod
    def from_yaml(cls, path: str | Path) -> AgentConfig:
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read ({exc.strerror or exc})") from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            raise ConfigError(
                f"{p}:{line}:{column}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                "kgagent.yaml must be UTF-8"
            ) from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            raise ConfigError(f"{p}{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping at the top level")
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            msgs = "; ".join(
                f"{'.'.join(str(x) for x in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise ConfigError(f"{p}: {msgs}") from exc

    def to_yaml(self, path: str | Path) -> None:
        atomic_write_text(path, yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))
