"""An agent workspace: one directory holding the config, the store and every artifact.

Layout (DESIGN.md): ``kgagent.yaml``, ``store/``, ``vocab/``, and later ``index/``,
``embeddings/``, ``policy/``, ``adapters/``, ``runs/``.
"""

from __future__ import annotations

from pathlib import Path

from kgagent.config import AgentConfig
from kgagent.errors import ConfigError

__all__ = ["CONFIG_FILE", "init_workspace", "open_kg", "read_config"]

CONFIG_FILE = "kgagent.yaml"


def init_workspace(
    path: str | Path, *, config: AgentConfig | None = None, exist_ok: bool = True
) -> Path:
    """Creates a workspace directory with its config; an existing one is left as it is."""
    root = Path(path)
    cfg_path = root / CONFIG_FILE
    if cfg_path.exists():
        if not exist_ok:
            raise ConfigError(f"{root}: already a kgagent workspace")
        read_config(root)  # validate
        return root
    if root.exists() and any(root.iterdir()):
        raise ConfigError(f"{root}: directory exists, is not empty and has no {CONFIG_FILE}")
    root.mkdir(parents=True, exist_ok=True)
    (config or AgentConfig(name=root.resolve().name)).to_yaml(cfg_path)
    return root


def read_config(path: str | Path) -> AgentConfig:
    root = Path(path)
    cfg_path = root / CONFIG_FILE
    if not cfg_path.exists():
        raise ConfigError(
            f"{root}: not a kgagent workspace (no {CONFIG_FILE}); run `kgagent init {root}`"
        )
    return AgentConfig.from_yaml(cfg_path)


def open_kg(path: str | Path, *, read_only: bool = False):
    """The workspace's KnowledgeGraph (embedded store, or the configured endpoint)."""
    from kgagent.kg.graph import KnowledgeGraph

    root = Path(path)
    cfg = read_config(root)
    if cfg.kg.store == "sparql":
        if not cfg.kg.query_endpoint:
            raise ConfigError(
                f"{root / CONFIG_FILE}: kg.query_endpoint is required when kg.store is 'sparql'"
            )
        return KnowledgeGraph.connect(
            cfg.kg.query_endpoint,
            cfg.kg.update_endpoint,
            graph_store_endpoint=cfg.kg.graph_store_endpoint,
            vocab_dir=root / "vocab",
            lang=cfg.kg.lang,
        )
    return KnowledgeGraph.open(root, read_only=read_only, lang=cfg.kg.lang)
