"""A local transformers causal LM (default: SmolLM2-135M-Instruct), with an optional LoRA.

Measured on 2 cores (Xeon with AMX): SmolLM2 in bf16 runs a 150-token prefill in ~X ms;
``choose`` needs exactly one prefill per conversation and batches them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kgagent.errors import ConfigError
from kgagent.llm.base import Message, normalize_rows
from kgagent.llm.models import DEFAULT_LLM, resolve_model

__all__ = ["TransformersLM"]

Precision = Literal["auto", "fp32", "bf16"]


def _fast_bf16() -> bool:
    import torch

    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except AttributeError:  # older torch: no probe, stay in fp32
        return False


class TransformersLM:
    """A chat model run locally with transformers.

    Args:
        model: ``"smollm2"`` (shipped, offline) or a local Hugging Face model directory.
        adapter: a LoRA adapter directory (peft format) applied on top, or None.
        precision: ``"auto"`` = bf16 where the CPU has AMX tiles (several times faster
            matmuls), else fp32.
        batch_size: conversations per forward pass in ``choose``.
        max_length: prompts are cut to this many tokens (from the left, keeping the
            question and the reply position).
    """

    scores_choices = True

    def __init__(
        self,
        model: str = DEFAULT_LLM,
        *,
        adapter: str | Path | None = None,
        precision: Precision = "auto",
        batch_size: int = 16,
        max_length: int = 1024,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_name = model
        self.path = resolve_model(model)
        self.adapter = None if adapter is None else Path(adapter)
        if precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"llm precision {precision!r}: expected auto, fp32 or bf16")
        bf16 = precision == "bf16" or (precision == "auto" and _fast_bf16())
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.batch_size = max(1, int(batch_size))
        self.max_length = int(max_length)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        base = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch.float32)
        if self.adapter is not None:
            base = _merge_adapter(base, self.adapter)
        self.model = base.to(self.dtype).eval()
        self._lock = threading.Lock()
        self._option_ids: dict[tuple[str, ...], list[int]] = {}

    @property
    def name(self) -> str:
        base = self.path.name if self.model_name.lower() in ("smollm2",) else str(self.path)
        return base if self.adapter is None else f"{base}+lora:{self.adapter.name}"

    def __repr__(self) -> str:
        return f"TransformersLM({self.name!r}, dtype={str(self.dtype).split('.')[-1]})"

    # -- prompts ------------------------------------------------------------------------

    def render(self, conversation: Sequence[Message]) -> str:
        """The chat-template text of a conversation, ready for the assistant's reply."""
        return self.tokenizer.apply_chat_template(
            list(conversation), tokenize=False, add_generation_prompt=True
        )

    def option_ids(self, options: Sequence[str]) -> list[int]:
        key = tuple(options)
        if key not in self._option_ids:
            ids = []
            for o in options:
                t = self.tokenizer.encode(o, add_special_tokens=False)
                if len(t) != 1:
                    raise ValueError(f"option {o!r} is {len(t)} tokens; options must be one")
                ids.append(t[0])
            self._option_ids[key] = ids
        return self._option_ids[key]

    def encode(self, texts: Sequence[str]) -> dict[str, Any]:
        """Left-padded, left-truncated token batch (the end of a prompt matters most)."""
        self.tokenizer.truncation_side = "left"
        return self.tokenizer(
            list(texts),
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.max_length,
            add_special_tokens=False,
        )

    # -- LLM protocol -------------------------------------------------------------------

    def choose(
        self, conversations: Sequence[Sequence[Message]], options: Sequence[str]
    ) -> np.ndarray:
        import torch

        ids = self.option_ids(options)
        texts = [self.render(c) for c in conversations]
        out = np.zeros((len(texts), len(ids)), dtype=np.float64)
        # similar lengths together: less padding per batch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            batch = self.encode([texts[i] for i in chunk])
            with self._lock, torch.inference_mode():
                logits = self.model(**batch, logits_to_keep=1).logits[:, -1, :]  # (b, V)
            out[chunk] = logits[:, ids].float().numpy()
        return normalize_rows(out)

    def generate(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int = 64
    ) -> list[str]:
        import torch

        texts = [self.render(c) for c in conversations]
        replies: list[str] = [""] * len(texts)
        for start in range(0, len(texts), self.batch_size):
            chunk = list(range(start, min(len(texts), start + self.batch_size)))
            batch = self.encode([texts[i] for i in chunk])
            with self._lock, torch.inference_mode():
                gen = self.model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = gen[:, batch["input_ids"].shape[1] :]
            for i, row in zip(chunk, new, strict=True):
                replies[i] = self.tokenizer.decode(row, skip_special_tokens=True).strip()
        return replies


def _merge_adapter(model: Any, adapter: Path) -> Any:
    """The base model with a peft LoRA adapter merged in (inference runs at base speed)."""
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"{adapter}: not a LoRA adapter (no adapter_config.json)")
    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
