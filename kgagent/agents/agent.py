"""The Agent: a knowledge graph plus everything built from it to answer questions.

This stage covers indexing and retrieval: ``agent.index()`` verbalizes the graph's facts,
embeds the new ones, and updates the faiss index, the entity linker and the relation
phrases in ``WORKSPACE/index/`` as one atomic directory swap; ``agent.retrieve(q)``
returns ranked, citable :class:`~kgagent.types.Evidence`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgagent._io import atomic_dir
from kgagent.agents.builder import build_llm, qa_pairs
from kgagent.agents.paths import load_policy, train_policy
from kgagent.config import AgentConfig
from kgagent.errors import IndexMismatchError, KGAgentError
from kgagent.kg.graph import KnowledgeGraph
from kgagent.types import Answer, Evidence

__all__ = ["Agent", "IndexReport"]

log = logging.getLogger(__name__)

INDEX_FORMAT = "kgagent-index/1"


@dataclass(frozen=True)
class IndexReport:
    """What ``index()`` did."""

    facts: int
    encoded: int  # facts embedded in this run (new or changed)
    removed: int
    seconds: float
    kind: str  # faiss index kind: flat | hnsw

    def __str__(self) -> str:
        return (
            f"{self.facts:,} facts indexed ({self.kind}): {self.encoded:,} encoded, "
            f"{self.removed:,} removed, {self.seconds:.1f}s"
        )


class _Built:
    """The in-memory retrieval artifacts."""

    def __init__(self, *, facts, vectors, linker, relations, manifest) -> None:
        self.facts = facts
        self.vectors = vectors
        self.linker = linker
        self.relations = relations  # list of (term, forward phrase, inverse phrase)
        self.manifest = manifest


class Agent:
    """An agent over one knowledge graph.

    Args:
        kg: the graph.
        config: the configuration (default: ``AgentConfig()``).
        workspace: the directory artifacts are saved in (None: memory only).
        encoder: an encoder instance overriding ``config.retrieval.encoder``.
    """

    def __init__(
        self,
        kg: KnowledgeGraph,
        *,
        config: AgentConfig | None = None,
        workspace: str | Path | None = None,
        encoder: Any = None,
    ) -> None:
        self.kg = kg
        self.config = config or AgentConfig()
        self.workspace = None if workspace is None else Path(workspace)
        self._encoder = encoder
        self._built: _Built | None = None
        self._retriever = None
        self._llm: Any = None
        self._lock = threading.RLock()

    @classmethod
    def open(cls, workspace: str | Path, *, encoder: Any = None, read_only: bool = False) -> Agent:
        """The agent of a workspace directory (see ``kgagent init``).

        ``read_only``: open the embedded store read-only, beside a process that has it
        open for writing (a team's Ray actors do; such an agent can answer, not index).
        """
        from kgagent.workspace import open_kg, read_config

        return cls(
            open_kg(workspace, read_only=read_only),
            config=read_config(workspace),
            workspace=workspace,
            encoder=encoder,
        )

    @classmethod
    def build(
        cls,
        kg: KnowledgeGraph,
        *,
        config: AgentConfig | None = None,
        workspace: str | Path | None = None,
        encoder: Any = None,
        progress: bool = False,
    ) -> Agent:
        """An agent over ``kg`` with its fact index built (or brought up to date)."""
        agent = cls(kg, config=config, workspace=workspace, encoder=encoder)
        agent.index(progress=progress)
        return agent

    @classmethod
    def load(cls, directory: str | Path, *, encoder: Any = None) -> Agent:
        """The agent :meth:`save` wrote (same as :meth:`open`)."""
        return cls.open(directory, encoder=encoder)

    def save(self, directory: str | Path) -> Path:
        """Writes this agent as a workspace: config, graph, index and adapters.

        Saving into the agent's own workspace writes its config and brings the index up
        to date. Saving elsewhere copies every source (same named graphs), the index and
        the adapters into a new directory; the copy's index reuses every vector.
        """
        import shutil
        import tempfile

        from kgagent.workspace import CONFIG_FILE, init_workspace, open_kg

        directory = Path(directory)
        with self._lock:
            if self.workspace is not None and directory.resolve() == self.workspace.resolve():
                self.config.to_yaml(directory / CONFIG_FILE)
                self.index()
                return directory
            if directory.exists() and any(directory.iterdir()):
                raise KGAgentError(f"{directory}: exists and is not empty")
            with atomic_dir(directory) as tmp:
                init_workspace(tmp, config=self.config)
                target = open_kg(tmp)
                try:
                    with tempfile.TemporaryDirectory() as scratch:
                        for src in self.kg.sources():
                            data = self.kg.backend.dump([src.graph], include_default=False)
                            f = Path(scratch) / f"{src.name or 'source'}.nt"
                            f.write_bytes(data)
                            target.load(f, graph=src.graph)
                finally:
                    target.close()
                if self._built is not None or (
                    self.index_dir is not None and self.index_dir.exists()
                ):
                    built = self._built or self._load()
                    self._save(built, tmp / "index")
                if self.workspace is not None and (self.workspace / "adapters").is_dir():
                    shutil.copytree(self.workspace / "adapters", tmp / "adapters")
        with Agent.open(directory, encoder=self._encoder) as copy:
            if (directory / "index").exists():
                copy.index()  # re-stamps the copied index for the copy's graph
        return directory

    def close(self) -> None:
        self.kg.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- components ---------------------------------------------------------------------

    @property
    def encoder(self):
        with self._lock:
            if self._encoder is None:
                from kgagent.retrieval.encoder import get_encoder

                rc = self.config.retrieval
                self._encoder = get_encoder(rc.encoder, **rc.encoder_kwargs)
            return self._encoder

    @property
    def index_dir(self) -> Path | None:
        return None if self.workspace is None else self.workspace / "index"

    def _vector_expectations(self) -> dict[str, Any]:
        return {"dim": int(self.encoder.dim), "encoder": self.encoder.name}

    def _expected_manifest(self) -> dict[str, Any]:
        enc = self.encoder
        return {"format": INDEX_FORMAT, "encoder": enc.name, "dim": int(enc.dim)}

    # -- indexing -----------------------------------------------------------------------

    def index(self, *, progress: bool = False) -> IndexReport:
        """Builds the fact index, or updates it: only new facts are encoded."""
        from kgagent.retrieval.facts import FactTable
        from kgagent.retrieval.index import FactIndex
        from kgagent.retrieval.linker import EntityLinker
        from kgagent.retrieval.verbalize import Verbalizer

        t0 = time.perf_counter()
        with self._lock, _gc_paused():
            enc = self.encoder
            scan = self.kg.triples_frame()  # held: one store scan serves every view below
            verbalizer = Verbalizer(self.kg.ontology)
            facts = FactTable.from_kg(self.kg, verbalizer=verbalizer)
            previous = self._previous_vectors()
            vectors = previous or FactIndex(int(enc.dim), exact_max=self.config.retrieval.exact_max)
            ids = facts.ids
            have = vectors.ids() if len(vectors) else np.empty(0, dtype=np.int64)
            new_mask = ~np.isin(ids, have)
            if previous is not None:
                # same triple, new wording (a label changed): its vector is stale too
                new_mask |= self._text_changed(facts)
            stale = have[~np.isin(have, ids)]
            removed = vectors.remove(stale) if len(stale) else 0
            new_rows = np.flatnonzero(new_mask)
            if len(new_rows):
                all_texts = facts.texts  # a list built once: the property copies the column
                texts = [all_texts[i] for i in new_rows.tolist()]
                emb = enc.encode(texts, show_progress=progress)  # (n, d)
                vectors.add(ids[new_rows], np.asarray(emb, dtype=np.float32))
            old_linker = self._previous_linker()
            linker = EntityLinker.from_kg(self.kg, encoder=enc, previous=old_linker)
            linker.embed_labels(old_linker, show_progress=progress)
            relations = [
                (term, *_relation_phrases(verbalizer, term[1:-1]))
                for term in self.kg.vocab.relations.terms  # predicates are always IRIs
            ]
            manifest = {
                **self._expected_manifest(),
                "normalized": True,
                "kg_fingerprint": self.kg.fingerprint(),
                "facts": len(facts),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            self._built = _Built(
                facts=facts, vectors=vectors, linker=linker, relations=relations, manifest=manifest
            )
            self._retriever = None
            if self.index_dir is not None:
                self._save(self._built)
            del scan
        return IndexReport(
            facts=len(facts),
            encoded=len(new_rows),
            removed=int(removed),
            seconds=time.perf_counter() - t0,
            kind=vectors.kind,
        )

    def _previous_vectors(self):
        """The vectors of the last build, reusable if made by the same encoder."""
        from kgagent.retrieval.index import FactIndex

        if self._built is not None:
            m = self._built.manifest
            if m["encoder"] == self.encoder.name and m["dim"] == self.encoder.dim:
                return self._built.vectors
            return None
        d = self.index_dir
        if d is None or not (d / "manifest.json").exists():
            return None
        try:
            # same dimension is not enough: vectors of another encoder are meaningless here
            return FactIndex.load(d / "vectors", expect=self._vector_expectations())
        except KGAgentError:
            return None  # unusable (other encoder, corrupt): rebuild from scratch

    def _text_changed(self, facts) -> np.ndarray:
        """(n,) bool: facts whose sentence differs from the last build's."""
        from kgagent.retrieval.facts import FactTable

        old = None
        if self._built is not None:
            old = self._built.facts
        elif self.index_dir is not None and (self.index_dir / "facts.tsv").exists():
            try:
                old = FactTable.load(self.index_dir / "facts.tsv")
            except (OSError, ValueError):
                return np.ones(len(facts), dtype=bool)
        if old is None:
            return np.zeros(len(facts), dtype=bool)
        before = dict(zip(old.ids.tolist(), old.texts, strict=True))
        return np.fromiter(
            (before.get(i, t) != t for i, t in zip(facts.ids.tolist(), facts.texts, strict=True)),
            dtype=bool,
            count=len(facts),
        )

    def _previous_linker(self):
        """The last build's linker (for its label embeddings), if any."""
        from kgagent.retrieval.linker import EntityLinker

        if self._built is not None:
            return self._built.linker
        d = self.index_dir
        if d is None or not (d / "linker").exists():
            return None
        try:
            return EntityLinker.load(d / "linker", encoder=self.encoder)
        except KGAgentError:
            return None

    def _save(self, built: _Built, index_dir: Path | None = None) -> None:
        """Writes the index artifacts (to ``index_dir``, default the workspace's) atomically."""
        index_dir = index_dir or self.index_dir
        assert index_dir is not None
        with atomic_dir(index_dir) as tmp:
            built.facts.save(tmp / "facts.tsv")
            # unchanged leading rows of the vector files are hard-linked, not rewritten
            old = index_dir
            built.vectors.save(
                tmp / "vectors", {"encoder": built.manifest["encoder"]}, reuse=old / "vectors"
            )
            built.linker.save(tmp / "linker", reuse=old / "linker")
            (tmp / "relations.json").write_text(
                json.dumps([list(r) for r in built.relations], ensure_ascii=False, indent=1)
            )
            (tmp / "manifest.json").write_text(json.dumps(built.manifest, indent=2) + "\n")

    def _load(self) -> _Built:
        from kgagent.retrieval.facts import FactTable
        from kgagent.retrieval.index import FactIndex
        from kgagent.retrieval.linker import EntityLinker

        d = self.index_dir
        if d is None or not (d / "manifest.json").exists():
            raise KGAgentError("no fact index yet: run agent.index() (CLI: `kgagent index WS`)")
        try:
            manifest = json.loads((d / "manifest.json").read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexMismatchError(f"{d}/manifest.json: unreadable ({exc})") from exc
        for key, want in self._expected_manifest().items():
            if manifest.get(key) != want:
                raise IndexMismatchError(
                    f"{d}: index {key} is {manifest.get(key)!r} but this agent uses {want!r}; "
                    "rebuild it with `kgagent index`"
                )
        fp = self.kg.fingerprint()
        if manifest.get("kg_fingerprint") != fp:
            raise IndexMismatchError(
                f"{d}: index was built for another state of the graph (fingerprint "
                f"{manifest.get('kg_fingerprint')}, graph now {fp}); update it with "
                "agent.index() / `kgagent index`"
            )
        facts = FactTable.load(d / "facts.tsv")
        vectors = FactIndex.load(d / "vectors", expect=self._vector_expectations())
        linker = EntityLinker.load(d / "linker", encoder=self.encoder)
        relations = [tuple(r) for r in json.loads((d / "relations.json").read_text("utf-8"))]
        return _Built(
            facts=facts, vectors=vectors, linker=linker, relations=relations, manifest=manifest
        )

    # -- retrieval ----------------------------------------------------------------------

    @property
    def retriever(self):
        with self._lock:
            if self._retriever is None:
                from kgagent.retrieval.retriever import RetrievalWeights, Retriever

                built = self._built or self._load()
                self._built = built
                rc = self.config.retrieval
                weights = RetrievalWeights(
                    relation=rc.relation_weight,
                    linked=rc.link_weight,
                    dense_k=rc.dense_k,
                    max_hops=rc.max_hops,
                    topic_answers=rc.topic_answers,
                )
                onto = self.kg.ontology
                vocab = self.kg.vocab
                rel_terms = [r[0] for r in built.relations]
                if rel_terms != vocab.relations.terms:
                    raise IndexMismatchError(
                        "the index's relations differ from the graph's; run agent.index()"
                    )
                self._retriever = Retriever(
                    facts=built.facts,
                    index=built.vectors,
                    encoder=self.encoder,
                    linker=built.linker,
                    adjacency=self.kg.adjacency(),
                    entity_terms=vocab.entities.terms,
                    relation_terms=rel_terms,
                    label=onto.label,
                    relation_phrases=[(r[1], r[2]) for r in built.relations],
                    weights=weights,
                )
                pc = self.config.policy
                retriever = self._retriever
                retriever.policy = load_policy(self, retriever)
                retriever.policy_beam, retriever.policy_options = pc.beam, pc.options
                retriever.policy_min_share = pc.min_share
            return self._retriever

    def retrieve(
        self, question: str, k: int | None = None, *, candidates: bool = False
    ) -> Evidence:
        """Evidence for a question: ranked facts, relation paths, linked entities, and
        (``candidates=True``, as ``ask`` does) the answer candidates."""
        k = k or self.config.retrieval.k
        return self.retriever.retrieve(question, k=k, candidates=candidates)

    # -- fine-tuning --------------------------------------------------------------------

    def finetune(
        self,
        examples,
        *,
        name: str | None = None,
        lora=None,
        progress: bool = False,
    ) -> dict[str, Any]:
        """Trains the reader's LoRA adapter on QA pairs and saves it in the workspace.

        Args:
            examples: a QA file (MetaQA, PathQuestion, JSONL ``{"question", "answers"}``)
                or (question, answers) pairs, e.g. from ``kgagent synth``.
            name: adapter name under ``WORKSPACE/adapters/`` (default: ``config.llm.adapter``).
            lora: a :class:`~kgagent.llm.finetune.LoRAConfig`.

        Returns the report (also in ``adapters/NAME/metrics.json``): option accuracy on
        held-out examples before and after, steps, seconds.
        """
        from kgagent.llm.finetune import example_from, train_lora
        from kgagent.llm.models import resolve_model

        cfg = self.config.llm
        if cfg.backend != "transformers":
            raise KGAgentError("fine-tuning needs the transformers backend (llm.backend)")
        if self.workspace is None:
            raise KGAgentError("fine-tuning saves an adapter: give the agent a workspace")
        name = name or cfg.adapter or "default"
        pairs = qa_pairs(examples)
        if not any(answers for _, answers in pairs):
            raise KGAgentError("fine-tuning needs questions with answers")
        retriever = self.retriever
        t0 = time.perf_counter()
        data = []
        for q, answers in pairs:
            if answers:
                ev = retriever.retrieve(q, k=self.config.retrieval.k, candidates=True)
                ex = example_from(ev, answers)
                if ex is not None:
                    data.append(ex)
        retrieve_s = time.perf_counter() - t0
        report = train_lora(
            resolve_model(cfg.model),
            data,
            self.workspace / "adapters" / name,
            config=lora,
            precision=cfg.precision,
            progress=progress,
        )
        report["retrieve_seconds"] = round(retrieve_s, 2)
        with self._lock:
            if name == cfg.adapter:
                self._llm = None  # the next question loads the new adapter
        return report

    def train_policy(
        self, examples, *, name: str | None = None, config=None, progress: bool = False
    ) -> dict[str, Any]:
        """Trains the path policy (REINFORCE) on QA pairs; ``ask`` then walks with it.

        Args:
            examples: a QA file or (question, answers) pairs, as for :meth:`finetune`.
            name: policy name under ``WORKSPACE/policy/`` (default: ``config.policy.name``).
            config: a :class:`~kgagent.policy.PolicyConfig`.

        Returns the report (also in ``policy/NAME/metrics.json``): learning curve,
        validation Hits@1 on a held-out tenth, seconds.
        """
        name = name or self.config.policy.name or "default"
        return train_policy(self, qa_pairs(examples), name=name, config=config, progress=progress)

    # -- transfer -----------------------------------------------------------------------

    def export(
        self, path: str | Path, *, components: Sequence[str] = ("policy",), **names: str
    ) -> Path:
        """Writes the learned parts as a transfer bundle (manifest + safetensors).

        Args:
            path: the bundle directory.
            components: any of "embeddings", "policy", "adapter".
            names: ``embedding=``, ``policy=``, ``adapter=`` names in the workspace.
        """
        from kgagent.transfer.exchange import export_agent

        return export_agent(self, path, components=components, **names)

    def import_(self, bundle, *, components: Sequence[str] | None = None, **options: Any) -> dict:
        """Imports a bundle's parts into this workspace, aligned to this graph's
        vocabulary; returns the coverage report (see
        :func:`kgagent.transfer.exchange.import_bundle` for the options)."""
        from kgagent.transfer.exchange import import_bundle

        return import_bundle(self, bundle, components=components, **options)

    # -- question answering -------------------------------------------------------------

    @property
    def adapter_dir(self) -> Path | None:
        """The LoRA adapter the config names, if it exists in the workspace."""
        name = self.config.llm.adapter
        if self.workspace is None or not name:
            return None
        d = self.workspace / "adapters" / name
        return d if (d / "adapter_config.json").is_file() else None

    @property
    def llm(self):
        """The reader's LLM (built on first use from ``config.llm``); None for backend none."""
        with self._lock:
            if self._llm is None:
                self._llm = build_llm(self.config.llm, self.adapter_dir)
            return self._llm or None

    @llm.setter
    def llm(self, value) -> None:
        with self._lock:
            self._llm = value if value is not None else False

    def ask(self, question: str) -> Answer:
        """Answers one question from the graph, citing the facts used (or abstains)."""
        return self.ask_batch([question])[0]

    def ask_batch(self, questions: Sequence[str]) -> list[Answer]:
        """Answers many questions; the LLM reads them in batches (one pass per batch)."""
        from kgagent.llm.reader import Reader

        t0 = time.perf_counter()
        retriever = self.retriever
        k = self.config.retrieval.k
        evidences = [retriever.retrieve(q, k=k, candidates=True) for q in questions]
        t1 = time.perf_counter()
        cfg = self.config.llm
        reader = Reader(
            self.llm,
            min_confidence=cfg.min_confidence,
            prior_weight=cfg.prior_weight,
            policy_weight=self.config.policy.prior_weight,
            decisive=self.config.policy.decisive,
        )
        answers = reader.read(evidences)
        t2 = time.perf_counter()
        n = max(1, len(questions))
        out = []
        for ev, a in zip(evidences, answers, strict=True):
            timings = {
                "link_ms": ev.timings.get("link_ms", 0.0),
                "retrieve_ms": ev.timings.get("total_ms", 0.0),
                "read_ms": (t2 - t1) * 1000 / n,  # the batch's LLM time, shared
                "total_ms": ev.timings.get("total_ms", 0.0) + (t2 - t1) * 1000 / n,
            }
            out.append(dataclasses.replace(a, timings=timings))
        log.debug("ask_batch: %d questions in %.1f ms", len(questions), (t2 - t0) * 1000)
        return out


@contextlib.contextmanager
def _gc_paused():
    """No cyclic GC while a build allocates millions of short-lived objects: with a warm
    agent's caches alive, its full collections cost ~0.4 s of a 5 s incremental update."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _relation_phrases(verbalizer, predicate: str) -> tuple[str, str]:
    """Short phrasings of a relation in both directions, for relation relevance."""
    t = verbalizer.templates(predicate)
    label = verbalizer.label(predicate)
    inverse = t.inverse.replace("{subject}", "").replace("{object}", "").strip(" ,.()")
    return label, " ".join(inverse.split()) or label
