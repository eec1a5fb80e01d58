"""The Agent: a knowledge graph plus everything built from it to answer questions.

A thin facade: :class:`~kgagent.retrieval.artifacts.RetrievalIndex` builds and stores
the index, :mod:`kgagent.agents.builder` turns the configuration into the question
pipeline (:mod:`kgagent.pipeline`), the reader (:class:`~kgagent.llm.reader.Reader`)
picks the answer, and :class:`~kgagent.workspace.Workspace` says where things live.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kgagent._io import atomic_dir
from kgagent.agents.builder import (
    build_llm,
    build_program_reader,
    build_reader,
    build_retriever,
    policy_proposer,
    qa_pairs,
    reads_with_llm,
    saved_policy,
)
from kgagent.agents.training import reader_examples
from kgagent.config import AgentConfig
from kgagent.errors import KGAgentError
from kgagent.kg.graph import KnowledgeGraph
from kgagent.pipeline.graph import relation_spread
from kgagent.retrieval.artifacts import IndexReport, RetrievalIndex
from kgagent.types import Answer, Evidence
from kgagent.workspace import Workspace

__all__ = ["Agent", "IndexReport"]

log = logging.getLogger(__name__)


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
        #: the workspace's paths (None: memory only)
        self.ws = None if workspace is None else Workspace(workspace)
        self._encoder = encoder
        self._index: RetrievalIndex | None = None
        self._programs: tuple[Any, Any] | None = None  # (graph, its ProgramReader)
        self._retriever = None
        self._llm: Any = None
        self._llm_given = False  # set through the ``llm`` property, not built from config
        self._lock = threading.RLock()

    @classmethod
    def open(cls, workspace: str | Path, *, encoder: Any = None, read_only: bool = False) -> Agent:
        """The agent of a workspace directory (see ``kgagent init``).

        ``read_only``: open the embedded store read-only, beside a process that has it
        open for writing (a team's Ray actors do; such an agent can answer, not index).
        """
        ws = Workspace(workspace)
        return cls(
            ws.open_kg(read_only=read_only),
            config=ws.read_config(),
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

        directory = Path(directory)
        with self._lock:
            if self.ws is not None and directory.resolve() == self.ws.root.resolve():
                self.ws.write_config(self.config)
                self.index()
                return directory
            if directory.exists() and any(directory.iterdir()):
                raise KGAgentError(f"{directory}: exists and is not empty")
            with atomic_dir(directory) as tmp:
                copy = Workspace(tmp).init(config=self.config)
                target = copy.open_kg()
                try:
                    with tempfile.TemporaryDirectory() as scratch:
                        for src in self.kg.sources():
                            data = self.kg.backend.dump([src.graph], include_default=False)
                            f = Path(scratch) / f"{src.name or 'source'}.nt"
                            f.write_bytes(data)
                            target.load(f, graph=src.graph)
                finally:
                    target.close()
                built = self._index
                if built is None and self.ws is not None and self.ws.index_dir.exists():
                    built = self._load_index()
                if built is not None:
                    built.save(copy.index_dir, reuse=self.ws.index_dir if self.ws else None)
                if self.ws is not None and self.ws.adapters_dir.is_dir():
                    shutil.copytree(self.ws.adapters_dir, copy.adapters_dir)
        with Agent.open(directory, encoder=self._encoder) as saved:
            if saved.ws.index_dir.exists():
                saved.index()  # re-stamps the copied index for the copy's graph
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
            if self._encoder is None:  # a static model fitted to this graph, if there is one
                from kgagent.retrieval.static_fit import workspace_encoder

                root = None if self.ws is None else self.ws.root
                self._encoder = workspace_encoder(self.config.retrieval, root)
            return self._encoder

    @property
    def index_dir(self) -> Path | None:
        return None if self.ws is None else self.ws.index_dir

    # -- indexing -----------------------------------------------------------------------

    def index(self, *, progress: bool = False, executor=None) -> IndexReport:
        """Builds the fact index, or updates it: only new facts are encoded (by ``executor``)."""
        with self._lock:
            previous = self.fit_encoder(progress=progress)
            built, report = RetrievalIndex.build(
                self.kg,
                self.encoder,
                previous=previous,
                vector_options=self.config.retrieval.vector_options(),  # exact_max, storage, pq
                linker_stopwords=tuple(self.config.retrieval.linker_stopwords),
                progress=progress,
                executor=executor,
            )
            self._index = built
            self._retriever = None
            if self.ws is not None:
                built.save(self.ws.index_dir)
        return report

    def fit_encoder(self, *, progress: bool = False) -> RetrievalIndex | None:
        """Before a full build, fits a distilled static encoder to this graph's facts
        (:mod:`kgagent.retrieval.static_fit`; Ray workers need it fitted before the build).
        Returns what of the index a build may reuse."""
        from kgagent.retrieval.static_fit import fitted_encoder

        with self._lock:
            previous = self._index
            if previous is None and self.ws is not None:
                previous = RetrievalIndex.reusable(self.ws.index_dir, encoder=self.encoder)
            if previous is None or previous.vectors is None or not previous.fits(self.encoder):
                root, rc = None if self.ws is None else self.ws.root, self.config.retrieval
                self._encoder = fitted_encoder(self.kg, self.encoder, rc, root, progress=progress)
            return previous

    def _load_index(self) -> RetrievalIndex:
        if self.ws is None:
            raise KGAgentError("no fact index yet: run agent.index() (CLI: `kgagent index WS`)")
        return RetrievalIndex.load(
            self.ws.index_dir,
            encoder=self.encoder,
            fingerprint=self.kg.fingerprint(),
            exact_max=self.config.retrieval.exact_max,
        )

    # -- retrieval ----------------------------------------------------------------------

    @property
    def retriever(self):
        """The question pipeline over this graph (built from the index on first use)."""
        with self._lock:
            if self._retriever is None:
                retriever = self._bare_retriever()
                reasoner = self._saved_policy(retriever)
                retriever = retriever.with_policy(policy_proposer(reasoner, self.config))
                if self.config.qa.programs:  # its masked question encoded with the question
                    reader = build_program_reader(retriever, self.encoder)
                    self._programs = (retriever.graph, reader)
                    retriever = retriever.with_side_text(reader.proposer.typed_text)
                self._retriever = retriever
            return self._retriever

    def _typed_reader(self):
        """The program reader over the current retriever's graph (rebuilt with it)."""
        retriever = self.retriever
        with self._lock:
            if self._programs is None or self._programs[0] is not retriever.graph:
                self._programs = (retriever.graph, build_program_reader(retriever, self.encoder))
            return self._programs[1]

    def _bare_retriever(self):
        """The pipeline without a path policy (the index loaded on first use)."""
        if self._index is None:
            self._index = self._load_index()
        return build_retriever(self._index, self.kg, self.encoder, self.config)

    def retrieve(
        self, question: str, k: int | None = None, *, candidates: bool = False
    ) -> Evidence:
        """Evidence for a question: ranked facts, relation paths, linked entities, and
        (``candidates=True``) the answer candidates ``ask`` reads."""
        k = k or self.config.retrieval.k
        return self.retriever.retrieve(question, k=k, candidates=candidates)

    # -- path policy --------------------------------------------------------------------

    def use_policy(self, reasoner) -> None:
        """Answers with this trained path policy from now on (None: without a policy)."""
        with self._lock:
            # not built yet: build it bare, not with the saved policy only to replace it
            retriever = self._retriever or self._bare_retriever()
            self._retriever = retriever.with_policy(policy_proposer(reasoner, self.config))

    def _saved_policy(self, retriever):
        """The policy the config names, if the workspace has it (checked against the graph)."""
        return saved_policy(self.ws, self.config, retriever)

    def train_policy(
        self,
        examples,
        *,
        name: str | None = None,
        config=None,
        progress: bool = False,
        time_budget: float | None = None,
    ) -> dict[str, Any]:
        """Trains the path policy (REINFORCE) on QA pairs; ``ask`` then walks with it.

        Args:
            examples: a QA file or (question, answers) pairs, as for :meth:`finetune`.
            name: policy name under ``WORKSPACE/policy/`` (default: ``config.policy.name``).
            config: a :class:`~kgagent.policy.PolicyConfig`.
            time_budget: seconds training may take (it stops early on validation).

        Returns the report (also in ``policy/NAME/metrics.json``): learning curve,
        validation Hits@1 on a held-out tenth, seconds.
        """
        from kgagent.pipeline.policy import fit_policy

        if self.ws is None:
            raise KGAgentError("training a policy saves it: give the agent a workspace")
        name = name or self.config.policy.name or "default"
        reasoner, report = fit_policy(
            self.retriever,
            qa_pairs(examples),
            config=config,
            topic_answers=self.config.retrieval.topic_answers,
            progress=progress,
            time_budget=time_budget,
        )
        reasoner.save(self.ws.policy_dir(name), metrics=report)
        if name == self.config.policy.name:
            self.use_policy(reasoner)
        return report

    def train(self, **options: Any):
        """Trains the policy and the reader on questions synthesized from the graph, each
        kept only where it beats what it would replace on held-out questions (no QA data
        needed); see :func:`kgagent.agents.training.train_agent` for the options. Returns
        the :class:`~kgagent.agents.training.TrainReport`."""
        from kgagent.agents.training import train_agent

        return train_agent(self, **options)

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
        from kgagent.llm.finetune import train_lora
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
        t0 = time.perf_counter()
        data = self.reader_examples(pairs)
        retrieve_s = time.perf_counter() - t0
        report = train_lora(
            resolve_model(cfg.model),
            data,
            self.ws.adapter_dir(name),
            config=lora,
            precision=cfg.precision,
            progress=progress,
        )
        report["retrieve_seconds"] = round(retrieve_s, 2)
        if name == cfg.adapter:
            self.reload_llm()  # the next question loads the new adapter
        return report

    def reader_examples(self, pairs) -> list:
        """The fine-tuning examples of (question, answers) pairs (see
        :func:`kgagent.agents.training.reader_examples`)."""
        typed = self._typed_reader() if self.config.qa.programs else None
        return reader_examples(self.retriever, typed, pairs)

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
        vocabulary, and starts using them; returns the coverage report (see
        :func:`kgagent.transfer.exchange.import_bundle` for the options)."""
        from kgagent.transfer.exchange import import_bundle

        report = import_bundle(self, bundle, components=components, **options)
        written = report.get("written", {})
        if "policy" in written and Path(written["policy"]).name == self.config.policy.name:
            with self._lock:
                if self._retriever is not None:  # else the next question loads it
                    self.use_policy(self._saved_policy(self._retriever))
        if "adapter" in written:
            self.reload_llm()  # the next question loads the imported adapter
        return report

    # -- question answering -------------------------------------------------------------

    @property
    def adapter_dir(self) -> Path | None:
        """The LoRA adapter the config names, if it exists in the workspace."""
        name = self.config.llm.adapter
        if self.ws is None or not name:
            return None
        d = self.ws.adapter_dir(name)
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
            self._llm_given = True

    @property
    def has_llm(self) -> bool:
        """Whether the reader scores options with an LLM (set, or configured and chosen:
        :func:`~kgagent.agents.builder.reads_with_llm`), without loading it."""
        with self._lock:
            if self._llm_given and not self._llm:
                return False
            return reads_with_llm(self.config, self.adapter_dir, given=self._llm_given)

    def reload(self) -> None:
        """Forgets the built pipeline and LLM: the next question rebuilds them from the
        workspace (its policy, adapter and config as they are on disk now)."""
        with self._lock:
            self._retriever = None
            self._llm = None
            self._llm_given = False

    def reload_llm(self) -> None:
        """Forgets the loaded LLM: the next question builds it again (a new adapter)."""
        with self._lock:
            self._llm = None
            self._llm_given = False

    def ask(self, question: str) -> Answer:
        """Answers one question from the graph, citing the facts used (or abstains).

        Raises:
            KGAgentError: the question is not a string, not valid Unicode, or longer
                than ``qa.max_question_chars`` (control characters become spaces).
        """
        return self._ask_checked([self._checked(question, "question")])[0]

    def conversation(self, state=None):
        """A :class:`~kgagent.dialogue.Conversation`: questions read against the turns
        before them ("what else did they direct?"); ``state`` a saved one's ``to_dict()``."""
        from kgagent.dialogue import Conversation

        return Conversation.resume(self, state)

    def link(self, question: str, top_k: int = 3) -> list:
        """The entities a question names (``EntityCandidate``s), no nearest-label guess."""
        return self.retriever.linker.link(question, top_k=top_k, dense=False)

    def refine(self, question: str, program: dict) -> Answer | None:
        """``question`` as constraints on ``program``'s chain, with no retrieval (see
        :meth:`kgagent.programs.ProgramReader.narrow`); None where it reads none."""
        return self._typed_reader().narrow(question, program, self.link(question, top_k=5))

    def relation_spread(self, relation: str, inverse: bool) -> float:
        """See :func:`kgagent.pipeline.graph.relation_spread` (a conversation's "it")."""
        g = self.retriever.graph
        return relation_spread([g.adj], g.relation_terms, relation, inverse)

    def ask_batch(self, questions: Sequence[str]) -> list[Answer]:
        """Answers many questions, ``qa.batch_chunk`` at a time (retrieval and one LLM
        pass per chunk), so memory does not grow with the batch: the results are those of
        one unchunked batch. Every question is checked before any is answered (see
        :meth:`ask`; the error names the question's position)."""
        if isinstance(questions, str):
            raise KGAgentError("questions: expected a list of strings, got one string")
        checked = [self._checked(q, f"questions[{i}]") for i, q in enumerate(questions)]
        return self._ask_checked(checked)

    def _checked(self, question: object, field: str) -> str:
        from kgagent.text import clean_question

        return clean_question(question, max_chars=self.config.qa.max_question_chars, field=field)

    def answer(self, evidences: Sequence[Evidence]) -> list[Answer]:
        """Answers read from evidence already retrieved (``retrieve(q, candidates=True)``),
        as ``ask`` reads it: a service can show the evidence before the answer."""
        return self._read(self._reader(len(evidences)), list(evidences))

    def _reader(self, n: int):
        return build_reader(self.config, self.adapter_dir, lambda: self.llm if n else None,
                            given=self._llm_given)  # fmt: skip

    def _ask_checked(self, questions: list[str]) -> list[Answer]:
        t0 = time.perf_counter()
        reader = self._reader(len(questions))
        size = self.config.qa.batch_chunk
        out: list[Answer] = []
        for start in range(0, len(questions), size):
            out += self._read(reader, self.retriever.evidence(questions[start : start + size]))
        log.debug("ask_batch: %d questions in %.1f ms", len(questions),
                  (time.perf_counter() - t0) * 1000)  # fmt: skip
        return out

    def _read(self, reader, evidences: list[Evidence]) -> list[Answer]:
        """Reading of one chunk: typed questions by their programs, the others by the
        chain reader; its read time is shared by its questions."""
        t2 = time.perf_counter()
        typed = (
            self._typed_reader().read(
                evidences, reader.llm if self.config.qa.programs_llm else None
            )
            if self.config.qa.programs
            else [None] * len(evidences)
        )
        rest = [ev for ev, t in zip(evidences, typed, strict=True) if t is None]
        plain = iter(reader.read(rest))
        answers = [t if t is not None else next(plain) for t in typed]
        read_ms = (time.perf_counter() - t2) * 1000 / max(1, len(evidences))
        out = []
        for ev, a in zip(evidences, answers, strict=True):
            retrieve_ms = ev.timings.get("total_ms", 0.0)
            timings = {
                "link_ms": ev.timings.get("link_ms", 0.0),
                "retrieve_ms": retrieve_ms,
                "read_ms": read_ms,
                "total_ms": retrieve_ms + read_ms,
            }
            out.append(dataclasses.replace(a, timings=timings))
        return out
