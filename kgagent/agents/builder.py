"""Builders: the parts of an agent made from its configuration (LLM) or from user input."""

from __future__ import annotations

from pathlib import Path

from kgagent.errors import KGAgentError

__all__ = ["build_llm", "qa_pairs"]


def qa_pairs(examples) -> list[tuple[str, tuple[str, ...]]]:
    """(question, answers) pairs from a QA file path or an iterable of pairs / QAItems."""
    from kgagent.qa import QAItem, read_qa

    if isinstance(examples, (str, Path)):
        examples = read_qa(examples)
    out = []
    for ex in examples:
        if isinstance(ex, QAItem):
            out.append((ex.question, ex.answers))
        else:
            q, answers = ex
            out.append((str(q), (answers,) if isinstance(answers, str) else tuple(answers)))
    return out


def build_llm(cfg, adapter: Path | None):
    """The LLM of an ``LLMConfig`` (False for backend none: read without an LLM)."""
    import os

    from kgagent.llm import get_llm

    if cfg.backend == "none":
        return False
    if cfg.backend == "openai":
        if not cfg.base_url:
            raise KGAgentError("llm.base_url is required for the openai backend")
        key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        return get_llm(
            "openai", base_url=cfg.base_url, model=cfg.model, api_key=key, timeout=cfg.timeout
        )
    return get_llm(
        "transformers",
        model=cfg.model,
        adapter=adapter,
        precision=cfg.precision,
        batch_size=cfg.batch_size,
    )
