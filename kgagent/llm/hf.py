"""A local transformers causal LM (default: SmolLM2-135M-Instruct), with an optional LoRA.

Measured on 2 cores (Xeon with AMX), SmolLM2 in bf16: one 150-token prompt 84 ms;
batched prompts 3,400-4,000 tokens/s (64 x 20 to 8 x 200 tokens); fp32 about 3x slower.
On an AMD EPYC with AVX512-BF16 (2 cores), bf16 is 1.8x faster than fp32.
``choose`` needs one prefill per conversation (no decoding) and batches them; prompts that
share a prefix (a question's candidates) compute it once. ``quantize="int8"`` swaps the
Linear layers for dynamic int8 ones at load (bench/reader_compression.py measures speed,
memory and Hits@1 against fp32 and bf16).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kgagent.errors import ConfigError, KGAgentError
from kgagent.llm.base import Message, normalize_rows
from kgagent.llm.models import DEFAULT_LLM, check_adapter_dir, resolve_model
from kgagent.retrieval.encoder import fast_bf16

__all__ = ["TransformersLM", "load_causal_lm", "model_config", "prompt_tokens", "quantize_int8"]

Precision = Literal["auto", "fp32", "bf16"]
Quantize = Literal["none", "int8"]


class TransformersLM:
    """A chat model run locally with transformers.

    Args:
        model: ``"smollm2"`` (shipped, offline) or a local Hugging Face model directory.
        adapter: a LoRA adapter directory (peft format) applied on top, or None.
        precision: ``"auto"`` = bf16 where the CPU has native bf16 matmuls (AMX tiles or
            AVX512-BF16: 1.8-3x faster), else fp32.
        quantize: ``"int8"``: the decoder's Linear layers as dynamic int8 (weights int8 per
            output channel, activations quantized per call; see :func:`quantize_int8`),
            applied after any adapter merge. Computes in fp32 around them, so it excludes
            ``precision="bf16"`` (``"auto"`` then means fp32).
        batch_size: conversations per forward pass (``choose``, ``generate``): the bound
            on the activations and KV cache of one pass, whatever the number of prompts.
        max_length: longer prompts lose their middle (see :func:`_cut_middle`): the system
            turn, the start of the user turn (the question) and the end (the reply
            position) are kept.
    """

    scores_choices = True

    def __init__(
        self,
        model: str = DEFAULT_LLM,
        *,
        adapter: str | Path | None = None,
        precision: Precision = "auto",
        quantize: Quantize = "none",
        batch_size: int = 16,
        max_length: int = 1024,
    ) -> None:
        import torch
        from transformers import AutoTokenizer

        self.model_name = model
        self.path = resolve_model(model)  # checked: config, complete safetensors, no pickles
        self.adapter = None if adapter is None else Path(adapter)
        if self.adapter is not None:
            check_adapter_dir(self.adapter)
        if precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"llm precision {precision!r}: expected auto, fp32 or bf16")
        if quantize not in ("none", "int8"):
            raise ConfigError(f"llm quantize {quantize!r}: expected none or int8")
        if quantize == "int8" and precision == "bf16":
            raise ConfigError("llm quantize 'int8' computes in fp32: it excludes precision 'bf16'")
        self.quantize = quantize
        bf16 = quantize == "none" and (
            precision == "bf16" or (precision == "auto" and fast_bf16("cpu"))
        )
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.batch_size = max(1, int(batch_size))
        self.max_length = max(8, int(max_length))
        config = model_config(self.path)  # first: the tokenizer reads it too, less clearly
        self.tokenizer = load_or_explain(
            self.path, "tokenizer", AutoTokenizer.from_pretrained, self.path
        )
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        base = load_causal_lm(self.path, config)
        if self.adapter is not None:
            merged = _merge_adapter(load_causal_lm(self.path, config), self.adapter)
            # the merged module tree runs 5x slower in bf16 here (measured: 1.5 s vs 0.3 s
            # for 16 prompts); its weights copied into a freshly loaded model run at full speed
            base.load_state_dict(merged.state_dict())
            del merged
        self.model = base.to(self.dtype).eval()
        if quantize == "int8":
            self.model = quantize_int8(self.model)
        self._cache_kw = _cache_name(self.model)
        self._lock = threading.Lock()
        self._option_ids: dict[tuple[str, ...], list[int]] = {}

    @property
    def name(self) -> str:
        base = self.path.name if self.model_name.lower() in ("smollm2",) else str(self.path)
        base = base if self.adapter is None else f"{base}+lora:{self.adapter.name}"
        return base if self.quantize == "none" else f"{base}+{self.quantize}"

    def __repr__(self) -> str:
        dtype = "int8" if self.quantize == "int8" else str(self.dtype).split(".")[-1]
        return f"TransformersLM({self.name!r}, dtype={dtype})"

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

    def tokens(self, conversation: Sequence[Message]) -> list[int]:
        """The prompt's token ids, at most ``max_length`` (see :func:`prompt_tokens`)."""
        return prompt_tokens(self.tokenizer, conversation, self.max_length)

    # -- LLM protocol -------------------------------------------------------------------

    def choose(
        self, conversations: Sequence[Sequence[Message]], options: Sequence[str]
    ) -> np.ndarray:
        """Option log-probabilities; conversations that share a long token prefix (the
        reader's candidates of one question) run that prefix once and reuse its KV cache.
        """
        import torch

        ids = self.option_ids(options)
        tokens = [self.tokens(c) for c in conversations]
        out = np.zeros((len(tokens), len(ids)), dtype=np.float64)
        groups = _prefix_groups(tokens, max_members=self.batch_size)
        for chunk in _passes(groups, self.batch_size):  # <= batch_size prompts per pass
            with self._lock, torch.inference_mode():
                logits = self._grouped_forward(tokens, chunk)  # (members, V)
            rows = [i for _, members in chunk for i in members]
            out[rows] = logits[:, ids].float().numpy()
        return normalize_rows(out)

    def _grouped_forward(self, tokens: list[list[int]], groups) -> Any:
        """Last-position logits of every member of ``groups`` [(prefix_len, members)]."""
        import torch

        pad = self.tokenizer.pad_token_id
        prefixes = [tokens[members[0]][:plen] for plen, members in groups]
        p_ids, p_mask = left_pad(prefixes, pad)  # (g, P)
        owner = torch.tensor([g for g, (_, m) in enumerate(groups) for _ in m])
        suffixes = [tokens[i][plen:] for plen, m in groups for i in m]
        s_ids, s_mask = left_pad(suffixes, pad)  # (n, S)
        if p_ids.shape[1] == 0:  # nothing shared: one plain batch
            return self.model(input_ids=s_ids, attention_mask=s_mask, logits_to_keep=1).logits[
                :, -1, :
            ]
        p_pos = (p_mask.cumsum(1) - 1).clamp(min=0)
        out = self.model(input_ids=p_ids, attention_mask=p_mask, position_ids=p_pos, use_cache=True)
        name = self._cache_kw
        cache = getattr(out, name)
        cache.batch_select_indices(owner)  # (n, heads, P, d): each member's prefix
        mask = torch.cat([p_mask[owner], s_mask], dim=1)  # (n, P + S)
        pos = p_mask.sum(1)[owner, None] + (s_mask.cumsum(1) - 1).clamp(min=0)  # (n, S)
        return self.model(
            input_ids=s_ids,
            attention_mask=mask,
            position_ids=pos,
            logits_to_keep=1,
            **{name: cache},
        ).logits[:, -1, :]

    def generate(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int = 64
    ) -> list[str]:
        import torch

        tokens = [self.tokens(c) for c in conversations]
        replies: list[str] = [""] * len(tokens)
        for start in range(0, len(tokens), self.batch_size):
            chunk = list(range(start, min(len(tokens), start + self.batch_size)))
            input_ids, mask = left_pad([tokens[i] for i in chunk], self.tokenizer.pad_token_id)
            with self._lock, torch.inference_mode():
                gen = self.model.generate(
                    input_ids=input_ids,
                    attention_mask=mask,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = gen[:, input_ids.shape[1] :]
            for i, row in zip(chunk, new, strict=True):
                replies[i] = self.tokenizer.decode(row, skip_special_tokens=True).strip()
        return replies


def prompt_tokens(tokenizer: Any, conversation: Sequence[Message], max_length: int) -> list[int]:
    """A conversation's chat-template token ids, ready for the reply, at most
    ``max_length``: a longer prompt loses its middle, never its system turn, its question
    or its reply position (inference and fine-tuning both cut prompts here).

    Raises:
        KGAgentError: a message whose content is not valid text (a lone surrogate, which
            the tokenizer would refuse with a bare TypeError).
    """
    for n, m in enumerate(conversation, 1):
        text = m.get("content")
        if not isinstance(text, str) or not _is_unicode(text):
            raise KGAgentError(f"message {n} ({m.get('role')}): content is not valid text")
    rendered = tokenizer.apply_chat_template(
        list(conversation), tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_length:
        return ids
    keep = 0
    if conversation and conversation[0].get("role") == "system":
        first = tokenizer.apply_chat_template([dict(conversation[0])], tokenize=False)
        keep = len(tokenizer(first, add_special_tokens=False)["input_ids"])
    return _cut_middle(ids, max_length, keep)


_MIN_SHARED = 16  # tokens a group of prompts must share before their prefix is cached


def _lcp(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _prefix_groups(
    tokens: list[list[int]], *, max_members: int | None = None
) -> list[tuple[int, list[int]]]:
    """Runs of consecutive prompts with a common prefix: [(prefix length, indices)].

    The prefix always leaves each member at least one token of its own (the position
    whose logits are read). A group holds at most ``max_members`` prompts, and once it
    has two it takes no prompt that would shorten its prefix: one question's candidates
    share the system turn *and* the question, while every prompt shares the system turn
    alone — without these rules a whole batch became one group, one forward pass whose
    memory grew with the batch (issue 19: 100 questions 2.5 GB, 1,000 past 10 GB).
    """
    cap = max_members or len(tokens) or 1
    groups: list[tuple[int, list[int]]] = []
    i = 0
    while i < len(tokens):
        shared, j = len(tokens[i]) - 1, i + 1
        while j < len(tokens) and j - i < cap:
            common = min(_lcp(tokens[i], tokens[j]), len(tokens[j]) - 1)
            if common < _MIN_SHARED or (j - i > 1 and common < shared):
                break
            shared, j = min(shared, common), j + 1
        if j - i == 1:
            shared = 0  # a prompt alone: no prefix to share
        groups.append((max(0, shared), list(range(i, j))))
        i = j
    return groups


def _is_unicode(text: str) -> bool:
    """False for text a tokenizer refuses with a bare TypeError (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _passes(groups: list[tuple[int, list[int]]], size: int):
    """Consecutive groups packed into forward passes of at most ``size`` prompts (a group
    is never split: :func:`_prefix_groups` caps it at ``size``)."""
    chunk: list[tuple[int, list[int]]] = []
    n = 0
    for g in groups:
        if chunk and n + len(g[1]) > size:
            yield chunk
            chunk, n = [], 0
        chunk.append(g)
        n += len(g[1])
    if chunk:
        yield chunk


def _cut_middle(ids: list[int], max_length: int, keep: int) -> list[int]:
    """``ids`` cut to ``max_length`` by dropping the middle: the first ``keep`` tokens
    (the system turn, at most half the budget), then the rest of the budget split evenly
    between the start (the question) and the end (the reply position)."""
    keep = min(keep, max_length // 2)
    head = keep + (max_length - keep) // 2
    tail = max_length - head
    return ids[:head] + ids[len(ids) - tail :]


def left_pad(rows: list[list[int]], pad: int) -> tuple[Any, Any]:
    import torch

    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, r in enumerate(rows):
        if r:
            ids[k, width - len(r) :] = torch.tensor(r)
            mask[k, width - len(r) :] = 1
    return ids, mask


def load_or_explain(where: Path, what: str, load, *args: Any, **kwargs: Any) -> Any:
    """``load(*args, **kwargs)``, its failures a ConfigError naming ``where`` and ``what``
    (the libraries raise bare TypeErrors and errors that name no file)."""
    try:
        return load(*args, **kwargs)
    except KGAgentError:
        raise
    except Exception as exc:  # a library boundary: its errors have no common base
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ConfigError(f"{where}: cannot load the {what} ({reason})") from exc


def model_config(path: Path) -> Any:
    """The transformers config of a model directory; a field of the wrong type is a
    ConfigError naming config.json and the field."""
    from transformers import AutoConfig

    return load_or_explain(path / "config.json", "model config", AutoConfig.from_pretrained, path)


def load_causal_lm(path: Path, config: Any = None) -> Any:
    """The fp32 causal LM of a checked model directory (see
    :func:`~kgagent.llm.models.check_model_dir`), from safetensors only; errors name the
    file."""
    import torch
    from transformers import AutoModelForCausalLM

    if config is None:
        config = model_config(path)
    return load_or_explain(
        path,
        "model weights",
        AutoModelForCausalLM.from_pretrained,
        path,
        config=config,
        dtype=torch.float32,
        use_safetensors=True,  # never a pickle, whatever else the directory holds
    )


def quantize_int8(model: Any, *, keep: Sequence[str] = ("lm_head",)) -> Any:
    """``model`` (fp32, eval) with its Linear layers swapped, in place, for dynamic int8 ones
    (fbgemm/x86 kernels; weights int8 with a scale per output channel, activations
    quantized per call with one scale from the whole input's range: no calibration data,
    but a prompt's scores move a little with its batch and padding).

    ``lm_head`` stays fp32: its weight is tied to the input embeddings (SmolLM2), so
    quantizing it keeps the fp32 embedding *and* adds an int8 copy, and the reader reads
    only the last position's logits, where the head costs little beside the 30 layers.
    ``keep``: the last parts of module names left fp32 (``"down_proj"``: the MLP outputs,
    whose inputs carry the largest activation outliers in LLMs; LLM.int8(), Dettmers et
    al. 2022).

    Raises:
        ConfigError: this torch has no ``torch.ao.quantization`` (deprecated: torch means
            to move it to torchao) or no x86/fbgemm quantized engine.
    """
    import warnings

    import torch

    engines = torch.backends.quantized.supported_engines
    engine = next((e for e in ("x86", "fbgemm") if e in engines), None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        try:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        except ImportError as exc:
            raise ConfigError(
                "llm quantize 'int8' needs torch.ao.quantization, which this torch no longer "
                "has: set llm.quantize to none"
            ) from exc
        if engine is None:
            raise ConfigError(
                f"llm quantize 'int8' needs the x86 or fbgemm quantized engine; this torch "
                f"has {', '.join(engines) or 'none'}: set llm.quantize to none"
            )
        if torch.backends.quantized.engine not in ("x86", "fbgemm"):
            torch.backends.quantized.engine = engine  # process-wide; already x86 on x86
        spec: dict[Any, Any] = {torch.nn.Linear: per_channel_dynamic_qconfig}
        spec |= {n: None for n, _ in model.named_modules() if n.rsplit(".", 1)[-1] in keep}
        return quantize_dynamic(model, spec, inplace=True)


def _merge_adapter(model: Any, adapter: Path) -> Any:
    """The base model with a peft LoRA adapter merged in (inference runs at base speed);
    the adapter was checked by :func:`~kgagent.llm.models.check_adapter_dir`."""
    from peft import PeftModel

    peft_model = load_or_explain(
        adapter, "LoRA adapter", PeftModel.from_pretrained, model, str(adapter)
    )
    return load_or_explain(adapter, "LoRA adapter", peft_model.merge_and_unload)


def _cache_name(model) -> str:
    """What ``model`` calls its key/value cache, as an argument and in its output:
    ``cache`` from transformers 5.2x (``past_key_values`` there warns that it is
    deprecated), ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
