"""kgagent for LangChain: a retriever of cited facts and a tool that answers from them.

``KGAgentRetriever`` puts the knowledge graph into a chain where a vector store's
retriever would go: each fact (and multi-hop path) is a ``Document`` whose metadata keeps
the triple and its id, so an application can show, check or store the evidence behind a
generated answer. ``KGAgentTool`` lets an agent ask the graph directly: kgagent picks the
answer and cites its facts, which a model then only has to relay.

Needs ``pip install "kgagent[langchain]"`` (langchain-core).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

try:
    from langchain_core.callbacks import (
        CallbackManagerForRetrieverRun,
        CallbackManagerForToolRun,
    )
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.tools import BaseTool, ToolException
    from pydantic import BaseModel, Field, PrivateAttr
except ImportError as exc:  # the extra is not installed
    from kgagent.integrations._shared import missing_extra

    raise missing_extra(__name__, "langchain") from exc

from kgagent.errors import KGAgentError
from kgagent.integrations._shared import AgentHandle, answer_content, items_for

__all__ = ["KGAgentRetriever", "KGAgentTool", "QuestionInput"]

TOOL_DESCRIPTION = (
    "Answers a question from the user's own knowledge graph and cites the facts it "
    "used. Input: one self-contained question in natural language that names the "
    "entities it is about (e.g. 'Who directed Jaws?'). Output: the answer with numbered "
    "cited facts, or 'Abstained.' when nothing in the graph supports an answer (then "
    "say so; do not guess)."
)


class KGAgentRetriever(BaseRetriever):
    """A LangChain retriever over a kgagent workspace (or an open Agent or Team).

    ``invoke(question)`` returns the top ``k`` facts as ``Document`` objects, best first
    (``page_content``: the verbalized fact; ``metadata``: ``source`` "fact",
    ``fact_id``, ``subject``, ``predicate``, ``object``, ``object_is_literal``, the
    labels, ``score``, and ``agent`` / ``graph`` for a team member's fact), then up to
    ``max_paths`` multi-hop answer chains, the ones ``ask`` reads (``source`` "path",
    ``fact_ids``, ``score``): a two-hop question's answer is on a chain, not in any
    one fact. ``ainvoke`` runs the same retrieval in a worker thread.

    Attributes:
        workspace: a workspace directory, opened read-only on first use and kept.
        agent: an open :class:`~kgagent.agents.Agent` or :class:`~kgagent.team.Team`
            instead (it stays the caller's to close).
        k: facts per question.
        max_paths: paths per question after the facts (0: facts only).
    """

    workspace: Path | None = None
    agent: Any = None
    k: int = Field(default=10, ge=1)
    max_paths: int = Field(default=5, ge=0)

    _handle: AgentHandle = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._handle = AgentHandle(workspace=self.workspace, agent=self.agent)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        items = items_for(self._handle.get(), query, k=self.k, max_paths=self.max_paths)
        return [Document(page_content=i.text, metadata=i.metadata, id=i.id) for i in items]

    def close(self) -> None:
        """Closes the agent opened from ``workspace`` (a passed ``agent`` is left open)."""
        self._handle.close()


class QuestionInput(BaseModel):
    """The tool's one argument (what a model fills in when it calls the tool)."""

    question: str = Field(
        description="A self-contained question about entities in the knowledge graph"
    )


class KGAgentTool(BaseTool):
    """A LangChain tool (name ``kgagent``) that answers from the knowledge graph.

    The content a model reads is the answer sentence with ``[n]`` citations and the
    cited facts listed below it, or "Abstained." first when kgagent abstains; the
    artifact (``ToolMessage.artifact`` when called with a tool call) is the full
    ``Answer.to_dict()`` record (answers, IRIs, fact ids, confidence, SPARQL) for the
    application, which the model need not read.

    Attributes:
        workspace: a workspace directory, opened read-only on first use and kept.
        agent: an open Agent or Team instead.
    """

    name: str = "kgagent"
    description: str = TOOL_DESCRIPTION
    args_schema: type[BaseModel] = QuestionInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    workspace: Path | None = None
    agent: Any = None

    _handle: AgentHandle = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._handle = AgentHandle(workspace=self.workspace, agent=self.agent)

    def _run(
        self, question: str, run_manager: CallbackManagerForToolRun | None = None
    ) -> tuple[str, dict[str, Any]]:
        target = self._handle.get()
        try:
            answer = target.ask(question)
        except KGAgentError as exc:  # a question kgagent refuses: the model may retry
            raise ToolException(str(exc)) from exc
        return answer_content(answer), answer.to_dict()

    def close(self) -> None:
        """Closes the agent opened from ``workspace`` (a passed ``agent`` is left open)."""
        self._handle.close()
