"""kgagent inside other frameworks' pipelines: LangChain and LlamaIndex.

Users who already build with LangChain or LlamaIndex want the knowledge graph as one more
retriever (or tool) in the chain they have, not a second stack. Each framework gets its
own module, imported only when asked for, so this package loads neither framework (nor
torch) and a checkout without the extras still imports it:

- :mod:`kgagent.integrations.langchain` (``pip install "kgagent[langchain]"``):
  ``KGAgentRetriever`` (a ``BaseRetriever`` returning ``Document`` objects) and
  ``KGAgentTool`` (a tool that answers with cited facts);
- :mod:`kgagent.integrations.llama_index` (``pip install "kgagent[llamaindex]"``):
  ``KGAgentRetriever`` (a ``BaseRetriever`` returning ``NodeWithScore`` objects).

Both map the same evidence to the same metadata (:mod:`kgagent.integrations._shared`),
so a fact keeps its id, triple and provenance whichever framework carries it.
"""
