"""An agent workspace: one directory holding the config, the store and every artifact.

:class:`Workspace` is the only place the layout's names are written::

    kgagent.yaml      the AgentConfig
    store/ vocab/     the KG (Oxigraph) and its stable id tables
    index/            the retrieval index (facts, vectors, linker, manifest)
    embeddings/NAME/  KG embeddings
    policy/NAME/      path policies
    adapters/NAME/    LoRA adapters of the reader
    runs/             experiment outputs
"""

from __future__ import annotations

from pathlib import Path

from kgagent.config import AgentConfig
from kgagent.errors import ConfigError

__all__ = ["CONFIG_FILE", "Workspace", "init_workspace", "open_kg", "read_config"]

CONFIG_FILE = "kgagent.yaml"


class Workspace:
    """The paths of one workspace directory (nothing is created by asking for a path)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def __fspath__(self) -> str:
        return str(self.root)

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def vocab_dir(self) -> Path:
        return self.root / "vocab"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def policies_dir(self) -> Path:
        return self.root / "policy"

    @property
    def adapters_dir(self) -> Path:
        return self.root / "adapters"

    @property
    def embeddings_dir(self) -> Path:
        return self.root / "embeddings"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def policy_dir(self, name: str) -> Path:
        return self.policies_dir / _plain(name, "policy")

    def adapter_dir(self, name: str) -> Path:
        return self.adapters_dir / _plain(name, "adapter")

    def embedding_dir(self, name: str) -> Path:
        return self.embeddings_dir / _plain(name, "embedding")

    def is_workspace(self) -> bool:
        return self.config_path.is_file()

    def read_config(self) -> AgentConfig:
        if not self.config_path.exists():
            raise ConfigError(
                f"{self.root}: not a kgagent workspace (no {CONFIG_FILE}); "
                f"run `kgagent init {self.root}`"
            )
        return AgentConfig.from_yaml(self.config_path)

    def write_config(self, config: AgentConfig) -> None:
        config.to_yaml(self.config_path)

    def init(self, *, config: AgentConfig | None = None, exist_ok: bool = True) -> Workspace:
        """Creates the directory with its config; an existing workspace is left as it is."""
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"{self.root}: exists and is not a directory")
        if self.config_path.exists():
            if not exist_ok:
                raise ConfigError(f"{self.root}: already a kgagent workspace")
            self.read_config()  # validate
            return self
        if self.root.exists() and any(self.root.iterdir()):
            raise ConfigError(
                f"{self.root}: directory exists, is not empty and has no {CONFIG_FILE}"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self.write_config(config or AgentConfig(name=self.root.resolve().name))
        return self

    def open_kg(self, *, read_only: bool = False):
        """The workspace's KnowledgeGraph (embedded store, or the configured endpoint).

        ``read_only``: the embedded store opened beside other processes using it, as every
        command that only reads does (a long ``retrieve`` then never locks out ``query``).
        """
        from kgagent.kg.graph import KnowledgeGraph

        cfg = self.read_config()
        if cfg.kg.store == "sparql":
            if not cfg.kg.query_endpoint:
                raise ConfigError(
                    f"{self.config_path}: kg.query_endpoint is required when kg.store is 'sparql'"
                )
            return KnowledgeGraph.connect(
                cfg.kg.query_endpoint,
                cfg.kg.update_endpoint,
                graph_store_endpoint=cfg.kg.graph_store_endpoint,
                vocab_dir=self.vocab_dir,
                lang=cfg.kg.lang,
                allow_service=cfg.kg.allow_service,
            )
        return KnowledgeGraph.open(
            self.root, read_only=read_only, lang=cfg.kg.lang, allow_service=cfg.kg.allow_service
        )


def _plain(name: str, what: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ConfigError(f"{what} name {name!r}: expected a plain directory name")
    return name


def init_workspace(
    path: str | Path, *, config: AgentConfig | None = None, exist_ok: bool = True
) -> Path:
    """Creates a workspace directory with its config; an existing one is left as it is."""
    return Workspace(path).init(config=config, exist_ok=exist_ok).root


def read_config(path: str | Path) -> AgentConfig:
    return Workspace(path).read_config()


def open_kg(path: str | Path, *, read_only: bool = False):
    """The workspace's KnowledgeGraph (embedded store, or the configured endpoint)."""
    return Workspace(path).open_kg(read_only=read_only)
