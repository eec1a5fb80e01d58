"""Teams: several agents, each over its own graph, answering questions together.

``Team(agents=[a, b]).ask(q)``:

1. every member links the question in its graph (in parallel); the router merges the
   links into team entities, picks the topic, and the members that receive the question
   (those holding the topic, and those whose relations cover what it asks);
2. the question is encoded once (topic masked for the policy) and scored against every
   team relation;
3. the team policy walks the federated graph from the topic — each hop may take a
   relation of any chosen member, the entity set crossing graphs at shared entities —
   and the members holding the topic add their one-hop candidates (literals included);
   without a team policy, chains are planned from relation relevance instead;
4. the chains are executed hop by hop on the members' edges and each member sends the
   facts behind its hops (typed messages, each fact stamped with the member and its
   graph); the reader (the single agent's, with the lead member's LLM for the questions
   the policy is unsure of) picks the answer, which cites every contributing member's
   facts.

Members run in a thread pool by default, or as Ray actors (``executor="ray"``) with the
same API. See :mod:`kgagent.team.federation` for how graphs are matched.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kgagent.errors import KGAgentError
from kgagent.kg.terms import iri_of
from kgagent.pipeline.graph import relation_spread
from kgagent.team.federation import DEFAULT_MATCH, Federation
from kgagent.team.member import make_members
from kgagent.team.router import Route, Router
from kgagent.team.view import FederatedGraph, TeamEncoder, TeamLinker
from kgagent.text import MAX_QUESTION_CHARS, clean_question, strip_hints
from kgagent.types import Answer, Evidence

__all__ = ["Team"]

#: reader and walk settings a team takes from its lead member unless given; and how
#: ``ask_batch`` takes questions (``batch_chunk``, ``max_question_chars``: the lead's
#: ``qa`` section where it tells them, else these defaults)
SETTINGS = ("decisive", "policy_weight", "prior_weight", "min_confidence", "same_hops",
            "beam", "options", "min_share", "batch_chunk", "max_question_chars", "programs",
            "programs_llm")  # fmt: skip
_QA_DEFAULTS = {"batch_chunk": 64, "max_question_chars": MAX_QUESTION_CHARS}


class Team:
    """Agents over different graphs answering together.

    Args:
        agents: :class:`~kgagent.agents.Agent` instances or workspace directories (opened
            here, and closed with the team).
        names: member names (default: each agent's config name; they must be unique).
        workspace: the team's directory (its policy lives in ``policy/NAME``).
        executor: "thread" (members in this process, in parallel threads) or "ray"
            (each member a Ray actor that opens its workspace; call ``ray.init`` first).
        workers: threads for the members (default: one per member).
        match: entity matchers across graphs, any of "iri", "same_as", "label" (as
            written), "normalized_label" (not by default).
        router: a :class:`~kgagent.team.router.Router` (default settings otherwise).
        llm: "lead" (the first member with an LLM scores the options the policy is unsure
            of), a member name, an LLM instance, or None (read by the policy's prior).
        policy: the team policy's name in ``workspace/policy/``.
        settings: overrides of the lead member's reader settings (``decisive``,
            ``policy_weight``, ``prior_weight``, ``min_confidence``, ``beam``,
            ``options``, ``min_share``), and ``ask_batch``'s ``batch_chunk`` and
            ``max_question_chars``.
        max_answers: answers a candidate carries (with their facts).
        actor_options: Ray ``.options(...)`` for each member actor (num_cpus, ...).
        read_only: open the workspaces given as paths read-only (asking needs no writes;
            another process may hold them; Ray actors always do).
    """

    def __init__(
        self,
        *,
        agents: Sequence[Any],
        names: Sequence[str] | None = None,
        workspace: str | Path | None = None,
        executor: str = "thread",
        workers: int | None = None,
        match: Sequence[str] = DEFAULT_MATCH,
        router: Router | None = None,
        llm: Any = "lead",
        policy: str = "default",
        settings: Mapping[str, Any] | None = None,
        max_answers: int = 100,
        actor_options: dict | None = None,
        read_only: bool = False,
    ) -> None:
        if not agents:
            raise KGAgentError("Team(agents=[...]): give at least one agent")
        unknown = sorted(set(settings or {}) - set(SETTINGS))
        if unknown:
            raise KGAgentError(f"settings {unknown}: choose from {', '.join(SETTINGS)}")
        self.workspace = None if workspace is None else Path(workspace)
        self.executor = executor
        self.router = router or Router()
        self.max_answers = int(max_answers)
        self.match = tuple(match)
        self._settings_override = dict(settings or {})
        self._llm_choice = llm
        self._policy_name = policy
        self._lock = threading.RLock()
        self._pool = (
            ThreadPoolExecutor(max_workers=workers or len(agents), thread_name_prefix="kgteam")
            if executor == "thread"
            else None
        )
        self._actor_options = actor_options
        self.members, self._opened = make_members(
            agents,
            names=names,
            executor=executor,
            pool=self._pool,
            actor_options=actor_options,
            read_only=read_only,
        )
        try:
            self._form()
        except BaseException:
            self.close()
            raise

    def _form(self) -> None:
        """(Re)builds the federation from what the members describe, the pipeline (the
        single agent's, over the federated view, with the lead member's weights) and the
        policy."""
        from kgagent.agents.builder import build_pipeline
        from kgagent.pipeline.settings import RetrievalWeights
        from kgagent.team.policy import load_team_policy

        infos = [f.result() for f in [m.submit("describe") for m in self.members]]
        self.federation = fed = Federation(infos, match=self.match)
        lead = next((i for i in infos if i.has_llm), infos[0])
        self.settings = {**lead.settings, **self._settings_override}
        self.weights = RetrievalWeights(**self.settings.get("weights", {}))
        self.linker = TeamLinker(fed, self.members, self.router)
        self.encoder = TeamEncoder(self.members[0], fed.relation_vectors.shape[1])
        self.graph = FederatedGraph(fed, self.members, self.router, link_min=self.weights.link_min)
        self._pipeline = build_pipeline(
            linker=self.linker,
            encoder=self.encoder,
            graph=self.graph,
            relevance_texts=fed.relation_texts,
            relevance_vectors=fed.relation_vectors,
            weights=self.weights,
            spread=self.relation_spread,
        )
        self._llm = None
        self._programs = None  # the ProgramReader over these members (rebuilt on a join)
        self.use_policy(load_team_policy(self, self._policy_name))

    def use_policy(self, reasoner) -> None:
        """Answers with this team policy from now on (None: planned chains only)."""
        from kgagent.pipeline.proposers import PolicyProposer

        s = self.settings
        proposer = None
        if reasoner is not None:
            proposer = PolicyProposer(
                reasoner,
                beam=s["beam"],
                options=s["options"],
                min_share=s["min_share"],
                linked=self.weights.linked,
            )
        with self._lock:
            self.policy = reasoner
            self._pipeline = self._pipeline.with_policy(proposer)

    # -- public -------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self.federation.names)

    def info(self) -> dict[str, Any]:
        """Members, their graphs and how they were matched, the relations and their
        holders, and whether a team policy is loaded."""
        fed = self.federation
        return {
            "members": [{"name": i.name, "graph": i.graph} for i in fed.infos],
            "entities": fed.num_entities,
            "relations": {
                iri_of(t): [fed.names[m] for m in fed.holders[r]]
                for r, t in enumerate(fed.relation_terms)
            },
            "coverage": fed.coverage(),
            "policy": None if self.policy is None else self._policy_name,
            "executor": self.executor,
        }

    def route(self, question: str) -> Route:
        """Where a question goes (topic entity, receiving members, coverage)."""
        links = self.linker.member_links([question])[0]
        vec = self.encoder.encode([strip_hints(question)])[0]
        rel = self._pipeline.relevance.scores(question, vec)
        return self.router.route(self.federation, links, rel)

    def ask(self, question: str) -> Answer:
        """Answers one question from the members' graphs, citing each member's facts.

        Raises:
            KGAgentError: the question is not a string, not valid Unicode, or longer
                than ``max_question_chars`` (control characters become spaces).
        """
        return self._ask_checked([self._checked(question, "question")])[0]

    def conversation(self, state=None):
        """A :class:`~kgagent.dialogue.Conversation` over the team, as an agent holds one."""
        from kgagent.dialogue import Conversation

        return Conversation.resume(self, state)

    def link(self, question: str, top_k: int = 3) -> list:
        """The entities a question names in any member's graph (``EntityCandidate``),
        merged as the router merges them, best first."""
        return [m.entity for m in self.linker.link([question])[0][:top_k]]

    def relation_spread(self, relation: str, inverse: bool) -> float:
        """See :func:`kgagent.pipeline.graph.relation_spread`, over every member's edges."""
        fed = self.federation
        adjs = [e.adj for e in fed.edges]
        return relation_spread(adjs, fed.relation_terms, relation, inverse)

    def evidence(self, questions: Sequence[str]) -> list[Evidence]:
        """Per question: the merged linked entities and the answer candidates the reader
        reads (the pipeline's output, before reading)."""
        return self._pipeline.evidence(questions)

    def ask_batch(self, questions: Sequence[str]) -> list[Answer]:
        """Answers many questions, ``batch_chunk`` at a time (each member gets one request
        per stage and chunk, the LLM one pass per chunk), so memory does not grow with
        the batch. Every question is checked first (see :meth:`ask`)."""
        if isinstance(questions, str):
            raise KGAgentError("questions: expected a list of strings, got one string")
        checked = [self._checked(q, f"questions[{i}]") for i, q in enumerate(questions)]
        return self._ask_checked(checked)

    def _qa(self, key: str) -> int:
        return int(self.settings.get(key) or _QA_DEFAULTS[key])

    def _checked(self, question: object, field: str) -> str:
        return clean_question(question, max_chars=self._qa("max_question_chars"), field=field)

    def _reader(self, n: int):
        from kgagent.llm.reader import Reader

        s = self.settings
        return Reader(
            self.llm if n else None,
            min_confidence=s["min_confidence"],
            prior_weight=s["prior_weight"],
            policy_weight=s["policy_weight"],
            decisive=s["decisive"],
            same_hops=s["same_hops"],
        )

    def answer(self, evidences: Sequence[Evidence]) -> list[Answer]:
        """Answers read from evidence already gathered (:meth:`evidence`), as ``ask``
        reads it: a service can show the evidence before the answer."""
        evidences = list(evidences)
        t0 = time.perf_counter()
        answers = self._read(self._reader(len(evidences)), evidences)
        read_ms = (time.perf_counter() - t0) * 1000 / max(1, len(evidences))
        out = []
        for ev, a in zip(evidences, answers, strict=True):
            retrieve_ms = ev.timings.get("total_ms", 0.0)
            timings = {"link_ms": ev.timings.get("link_ms", 0.0), "retrieve_ms": retrieve_ms,
                       "read_ms": read_ms, "total_ms": retrieve_ms + read_ms}  # fmt: skip
            out.append(dataclasses.replace(a, timings=timings))
        return out

    def _ask_checked(self, questions: list[str]) -> list[Answer]:
        reader = self._reader(len(questions))
        size = self._qa("batch_chunk")
        out: list[Answer] = []
        for start in range(0, len(questions), size):
            out += self._ask_chunk(reader, questions[start : start + size])
        return out

    def _ask_chunk(self, reader, questions: list[str]) -> list[Answer]:
        """One chunk through the pipeline and the reader; timings per question."""
        t0 = time.perf_counter()
        evidences = self.evidence(questions)
        t1 = time.perf_counter()
        answers = self._read(reader, evidences)
        t2 = time.perf_counter()
        n = max(1, len(questions))
        link_ms = evidences[0].timings.get("link_ms", 0.0) if evidences else 0.0
        timings = {
            "link_ms": link_ms,
            "retrieve_ms": (t1 - t0) * 1000 / n,
            "read_ms": (t2 - t1) * 1000 / n,
            "total_ms": (t2 - t0) * 1000 / n,
        }
        return [dataclasses.replace(a, timings=dict(timings)) for a in answers]

    def _read(self, reader, evidences: list[Evidence]) -> list[Answer]:
        """Typed questions by their programs over the federated graphs (counts, yes/no,
        ...), the others by the chain reader."""
        typed = (
            self._typed_reader().read(
                evidences, reader.llm if self.settings.get("programs_llm", False) else None
            )
            if self.settings.get("programs", True)
            else [None] * len(evidences)
        )
        plain = iter(reader.read([ev for ev, t in zip(evidences, typed, strict=True) if t is None]))
        return [t if t is not None else next(plain) for t in typed]

    def _typed_reader(self):
        """The program reader over the members' graphs federated (built on first use)."""
        from kgagent.programs.propose import ProgramProposer
        from kgagent.programs.reader import ProgramReader
        from kgagent.team.programs import FederatedProgramGraph

        with self._lock:
            if self._programs is None:
                fed = self.federation
                graph = FederatedProgramGraph(fed, self.members)
                proposer = ProgramProposer(graph, self.encoder, fed.relation_terms,
                                           fed.relation_texts, fed.relation_vectors)  # fmt: skip
                self._programs = ProgramReader(proposer, graph)
            return self._programs

    # -- learning and membership ------------------------------------------------------------

    def synth_inputs(self):
        """(chain graph, united ontology, relation terms) of the members' graphs
        federated: what :func:`kgagent.synth.synthesize` samples and phrases for a team."""
        from kgagent.team.synth import team_synth_inputs

        return team_synth_inputs(self)

    def synthesize(self, n: int = 400, **kwargs: Any) -> list:
        """``n`` questions with their answers over the members' graphs, chains crossing
        from one graph into another (:func:`kgagent.synth.synthesize`)."""
        from kgagent.synth import synthesize

        return synthesize(self, n=n, **kwargs)

    def train_policy(
        self,
        examples=None,
        *,
        name: str | None = None,
        config=None,
        warm_start: bool | str = True,
        progress: bool = False,
        time_budget: float | None = None,
        questions: int = 2000,
        multi_hop: float = 0.5,
    ) -> dict[str, Any]:
        """Trains the team policy (REINFORCE over the federated graph) on QA pairs.

        Args:
            examples: a QA file or (question, answers) pairs; None: ``questions``
                questions synthesized over the members' graphs (``multi_hop`` of them
                over 2-3 hops, chains crossing graphs), for a team with no QA data.
            name: the policy's name under ``workspace/policy/`` (default: the team's).
            config: a :class:`~kgagent.policy.PolicyConfig`.
            warm_start: True: start from the member policy that knows the most team
                relations (through the transfer module); a member name: from that one;
                False: from scratch.

        Returns the report (also in ``policy/NAME/metrics.json``): the warm start's
        relation coverage and validation Hits@1 before training, the learning curve,
        validation Hits@1 after, and the planned chains' (no policy's) validation
        Hits@1: the policy answers questions only where it beat them (``used``).
        """
        from kgagent.agents.builder import qa_pairs
        from kgagent.team.policy import train_team_policy

        name = name or self._policy_name
        synthesized = examples is None
        if synthesized:
            items = self.synthesize(questions, seed=getattr(config, "seed", 0),
                                    multi_hop=multi_hop)  # fmt: skip
            pairs = [(it.question, it.answers) for it in items]
        else:
            pairs = qa_pairs(examples)
        reasoner, report = train_team_policy(
            self,
            pairs,
            name=name,
            config=config,
            warm=warm_start,
            progress=progress,
            time_budget=time_budget,
            tie_to_policy=not synthesized,
        )
        report["synthesized_questions"] = len(pairs) if synthesized else 0
        if name == self._policy_name:
            self.use_policy(reasoner if report["used"] else None)
        return report

    def join(
        self,
        agent: Any,
        *,
        name: str | None = None,
        warm_start_from: str | None = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Adds a member; with ``warm_start_from`` (a member name) the newcomer's path
        policy is first initialised from that peer's through the transfer module
        (aligned to the newcomer's graph; see :meth:`Agent.import_`).

        Returns the transfer report (alignment coverage, rows mapped), or {}. If the
        newcomer brings relations the team policy does not know, the team answers with
        planned chains until :meth:`train_policy` runs again.
        """
        from kgagent.agents.agent import Agent
        from kgagent.team.member import make_members

        report: dict[str, Any] = {}
        opened: list[Agent] = []
        if warm_start_from is not None:
            if warm_start_from not in self.names:
                raise KGAgentError(f"warm_start_from={warm_start_from!r}: no such member")
            import tempfile

            peer = self.members[self.names.index(warm_start_from)]
            with tempfile.TemporaryDirectory(prefix="kgagent-join-") as tmp:
                bundle = peer.submit("export_policy", str(Path(tmp) / "bundle")).result()
                target = agent if isinstance(agent, Agent) else Agent.open(agent)
                try:
                    report = target.import_(bundle, components=["policy"], overwrite=overwrite)
                finally:
                    if target is not agent and self.executor == "ray":
                        target.close()  # the actor opens the workspace itself
                    elif target is not agent:
                        opened.append(target)
                        agent = target
            report["warm_start_from"] = warm_start_from
        names = [*self.names, name] if name else None
        new, more = make_members(
            [agent],
            names=[name] if name else None,
            executor=self.executor,
            pool=self._pool,
            actor_options=self._actor_options,
        )
        if names is None and new[0].name in self.names:
            raise KGAgentError(f"a member is already called {new[0].name!r}: give name=")
        with self._lock:
            self.members += new
            self._opened += opened + more
            self._form()
        return report

    # -- plumbing -----------------------------------------------------------------------

    @property
    def llm(self):
        """What scores the options the policy is unsure of (see ``llm=``), or None."""
        with self._lock:
            if self._llm is None:
                self._llm = self._resolve_llm() or False
            return self._llm or None

    def _resolve_llm(self):
        choice = self._llm_choice
        if choice is None:
            return None
        if not isinstance(choice, str):
            return choice  # an LLM instance
        infos = self.federation.infos
        if choice == "lead":
            m = next((i for i, info in enumerate(infos) if info.has_llm), None)
            return None if m is None else _MemberLLM(self.members[m])
        if choice not in self.names:
            raise KGAgentError(f"llm={choice!r}: no such member ({', '.join(self.names)})")
        return _MemberLLM(self.members[self.names.index(choice)])

    def close(self) -> None:
        for m in getattr(self, "members", []):
            if not hasattr(m, "agent"):
                m.close()  # a Ray actor
        for a in getattr(self, "_opened", []):
            a.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> Team:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _MemberLLM:
    """A member's LLM, asked through the member (in its thread, or its actor)."""

    scores_choices = True

    def __init__(self, member) -> None:
        self.member = member
        self.name = f"member:{member.name}"

    def choose(self, conversations, options):
        return self.member.submit("llm_choose", conversations, list(options)).result()
