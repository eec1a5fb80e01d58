"""kgagent for LlamaIndex: a retriever of cited facts from the user's knowledge graph.

``KGAgentRetriever`` stands where an index's retriever would (a query engine, a
``RouterRetriever``, a chat engine): each fact and multi-hop path is a ``TextNode``
whose id is the fact's stable id and whose metadata keeps the triple, so the evidence
behind a synthesized answer can be traced to the graph.

Needs ``pip install "kgagent[llamaindex]"`` (llama-index-core).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

try:
    from llama_index.core.callbacks import CallbackManager
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
except ImportError as exc:  # the extra is not installed
    from kgagent.integrations._shared import missing_extra

    raise missing_extra(__name__, "llamaindex") from exc

from kgagent.integrations._shared import AgentHandle, Item, items_for

__all__ = ["KGAgentRetriever"]


def _node(item: Item) -> NodeWithScore:
    """An item as a scored node. Its metadata is kept out of the text an LLM or an
    embedder reads (LlamaIndex prepends metadata by default): the verbalized fact is
    written to be read, the IRIs and scores are for the application."""
    keys = list(item.metadata)
    node = TextNode(
        text=item.text,
        id_=item.id,
        metadata=item.metadata,
        excluded_embed_metadata_keys=keys,
        excluded_llm_metadata_keys=keys,
    )
    return NodeWithScore(node=node, score=item.score)


class KGAgentRetriever(BaseRetriever):
    """A LlamaIndex retriever over a kgagent workspace (or an open Agent or Team).

    ``retrieve(question)`` returns the top ``k`` facts as ``NodeWithScore`` objects, best
    first (node id: the fact id as a string; text: the verbalized fact; metadata as in
    :class:`kgagent.integrations.langchain.KGAgentRetriever`: ``source``, ``fact_id``,
    ``subject``, ``predicate``, ``object``, ``object_is_literal``, the labels,
    ``score``, ``agent`` / ``graph`` for a team's fact), then up to ``max_paths``
    multi-hop answer chains (``source`` "path", ``fact_ids``). ``aretrieve`` runs the
    same retrieval in a worker thread, so an event loop is not blocked.

    Args:
        workspace: a workspace directory, opened read-only on first use and kept.
        agent: an open :class:`~kgagent.agents.Agent` or :class:`~kgagent.team.Team`
            instead (it stays the caller's to close).
        k: facts per question.
        max_paths: paths per question after the facts (0: facts only).
        callback_manager: LlamaIndex's callbacks (as for any of its retrievers).
        verbose: LlamaIndex's verbose printing (as for any of its retrievers).
    """

    def __init__(
        self,
        *,
        workspace: str | Path | None = None,
        agent: Any = None,
        k: int = 10,
        max_paths: int = 5,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        from kgagent.errors import KGAgentError

        if int(k) < 1 or int(max_paths) < 0:
            raise KGAgentError(f"k={k}, max_paths={max_paths}: k must be >= 1, max_paths >= 0")
        self._handle = AgentHandle(workspace=workspace, agent=agent)
        self.k = int(k)
        self.max_paths = int(max_paths)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @property
    def workspace(self) -> Path | None:
        return self._handle.workspace

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        target = self._handle.get()
        items = items_for(target, query_bundle.query_str, k=self.k, max_paths=self.max_paths)
        return [_node(i) for i in items]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)

    def close(self) -> None:
        """Closes the agent opened from ``workspace`` (a passed ``agent`` is left open)."""
        self._handle.close()
