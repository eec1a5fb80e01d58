"""A tiny indexed workspace from Turtle text, as many test packages build one: the
hashing encoder and no LLM, so answers come from retrieval and the graph in
milliseconds."""

from __future__ import annotations

from pathlib import Path

from kgagent.agents import Agent
from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
from kgagent.workspace import init_workspace, open_kg


def tiny_config(name: str = "kgagent") -> AgentConfig:
    return AgentConfig(
        name=name, retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none")
    )


def turtle_workspace(root: Path, *turtles: str, name: str = "kgagent", index: bool = True) -> Path:
    """The workspace ``root``/ws over ``turtles`` (each written beside it and loaded),
    indexed unless ``index`` is False; closed, for each test to open as it needs."""
    ws = init_workspace(root / "ws", config=tiny_config(name))
    with open_kg(ws) as kg:
        for i, text in enumerate(turtles):
            path = root / f"graph{i}.ttl"
            path.write_text(text, encoding="utf-8")
            kg.load(path)
    if index:
        with Agent.open(ws) as agent:
            agent.index()
    return ws
