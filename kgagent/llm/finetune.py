"""LoRA fine-tuning of the reader: (question, candidates from retrieval) -> the answer.

The reader scores each candidate with the log-odds of "yes" against "no"; training uses
exactly that score, with a softmax over one question's candidates and a "none" option
fixed at 0 — a listwise cross-entropy over pointwise scores, so scores stay comparable
across questions and the model learns relevance, not positions (Hu et al. 2021, "LoRA:
Low-Rank Adaptation of Large Language Models", via peft). Targets come from QA pairs:
the candidate whose entities best match the gold answers (F1), or "none" when no
candidate contains any.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kgagent._io import atomic_dir
from kgagent.llm.base import Message
from kgagent.llm.prompt import MAX_OPTIONS, NO, YES, conversation
from kgagent.text import normalize_answer
from kgagent.types import Evidence

__all__ = ["Example", "LoRAConfig", "best_match", "example_from", "train_lora"]


@dataclass(frozen=True)
class Example:
    """One training question: the reader's prompt per candidate and which one answers."""

    conversations: list[list[Message]]  # one per candidate
    target: int  # 0 = none, i = candidate i (1-based)


@dataclass
class LoRAConfig:
    """LoRA and optimisation settings (defaults measured on MetaQA, see bench/qa_metaqa.py)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    #: adapt only the top N transformer layers: backward stops there, which makes a step
    #: ~3x faster on CPU than adapting all 30 layers of SmolLM2 (None: every layer)
    top_layers: int | None = 8
    lr: float = 1e-3
    epochs: float = 1.0
    batch_size: int = 8
    max_steps: int | None = None
    warmup: float = 0.05
    seed: int = 0
    holdout: float = 0.1  # share of examples kept for the before/after report


_MAX_TOKENS = 512  # a training prompt's length cap (the reader's prompts are ~75 tokens)


def _norm(text: str) -> str:
    """An answer key; underscores kept as written, as this picker always compared them."""
    return normalize_answer(text, underscores_as_spaces=False)


def example_from(evidence: Evidence, answers: Sequence[str]) -> Example | None:
    """The training example of a question with gold answers (labels or IRIs).

    None when retrieval offered no candidates at all (nothing to learn from).
    """
    cands = list(evidence.candidates[:MAX_OPTIONS])
    if not cands:
        return None
    got = [[label for _, label in c.answers] + [v for v, _ in c.answers] for c in cands]
    totals = [max(1, min(len(c.answers), c.total)) for c in cands]
    target = best_match(got, answers, sizes=totals)
    return Example([conversation(evidence.question, c) for c in cands], target)


def best_match(
    options: Sequence[Sequence[str]], answers: Sequence[str], *, sizes: Sequence[int] | None = None
) -> int:
    """Which option's answers best match the gold (F1 of normalized answers; an option
    may list each answer twice, by label and by IRI): its 1-based index, 0 when none
    shares any answer. ``sizes``: each option's answer count (default: its distinct
    answers)."""
    gold = {_norm(a) for a in answers if str(a).strip()}
    best, best_f1 = 0, 0.0
    for i, option in enumerate(options, 1):
        got = {_norm(a) for a in option}
        hit = len(gold & got)
        if not hit:
            continue
        size = sizes[i - 1] if sizes is not None else len(got)
        precision = hit / max(1, size)
        recall = hit / max(1, len(gold))
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best, best_f1 = i, f1
    return best


def train_lora(
    model_path: str | Path,
    examples: Sequence[Example],
    out_dir: str | Path,
    *,
    config: LoRAConfig | None = None,
    precision: str = "auto",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Trains a LoRA adapter on ``examples`` and saves it (peft format, safetensors).

    Returns the report also written to ``out_dir/metrics.json``: option accuracy on the
    held-out examples before and after, steps, seconds.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    from kgagent.llm.hf import (
        left_pad,
        load_causal_lm,
        load_or_explain,
        model_config,
        prompt_tokens,
    )
    from kgagent.llm.models import check_model_dir
    from kgagent.retrieval.encoder import fast_bf16

    cfg = config or LoRAConfig()
    if not examples:
        raise ValueError("no training examples (did retrieval find options for the questions?)")
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    data = list(examples)
    rng.shuffle(data)
    n_hold = int(len(data) * cfg.holdout) if len(data) >= 20 else 0
    held, train = data[:n_hold], data[n_hold:]

    model_path = Path(model_path)
    check_model_dir(model_path)  # config, complete safetensors, no pickles
    model_cfg = model_config(model_path)
    tok = load_or_explain(model_path, "tokenizer", AutoTokenizer.from_pretrained, model_path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    yes, no = (tok.encode(w, add_special_tokens=False)[0] for w in (YES, NO))
    base = load_causal_lm(model_path, model_cfg)
    n_layers = int(getattr(base.config, "num_hidden_layers", 0) or 0)
    layers = None
    if cfg.top_layers and n_layers > cfg.top_layers:
        layers = list(range(n_layers - cfg.top_layers, n_layers))
    model = get_peft_model(
        base,
        LoraConfig(
            r=cfg.r,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=list(cfg.target_modules),
            layers_to_transform=layers,
            task_type="CAUSAL_LM",
        ),
    )
    bf16 = precision == "bf16" or (precision == "auto" and fast_bf16("cpu"))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    def option_logits(batch: Sequence[Example]) -> torch.Tensor:
        """(b, 1 + max candidates): 0 for none, yes/no log-odds per candidate, -inf pad."""
        convs = [c for e in batch for c in e.conversations]
        # cut as inference cuts them (the middle goes, the system turn and question stay)
        ids, mask = left_pad([prompt_tokens(tok, c, _MAX_TOKENS) for c in convs],
                              tok.pad_token_id)  # fmt: skip
        with autocast:
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=1).logits[
                :, -1, :
            ]  # (sum n, V)
        odds = (logits[:, yes] - logits[:, no]).float()  # (sum n,)
        width = 1 + max(len(e.conversations) for e in batch)
        out = torch.full((len(batch), width), float("-inf"))
        out[:, 0] = 0.0
        start = 0
        for i, e in enumerate(batch):
            n = len(e.conversations)
            out[i, 1 : 1 + n] = odds[start : start + n]
            start += n
        return out

    def accuracy(batch: Sequence[Example]) -> float | None:
        if not batch:
            return None
        model.eval()
        right = 0
        with torch.inference_mode():
            for i in range(0, len(batch), 8):
                chunk = batch[i : i + 8]
                pred = option_logits(chunk).argmax(-1)
                right += int((pred == torch.tensor([e.target for e in chunk])).sum())
        return right / len(batch)

    t0 = time.perf_counter()
    with model.disable_adapter():
        before = accuracy(held)
    steps = cfg.max_steps or max(1, int(np.ceil(len(train) * cfg.epochs / cfg.batch_size)))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    warm = max(1, int(steps * cfg.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm))
    )
    order: list[Example] = []
    losses: list[float] = []
    bar = _bar(steps, progress)
    model.train()
    for step in range(steps):
        if len(order) < cfg.batch_size:
            more = list(train)
            rng.shuffle(more)
            order += more
        batch, order = order[: cfg.batch_size], order[cfg.batch_size :]
        logits = option_logits(batch)  # (b, 1 + n)
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([e.target for e in batch]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        elif log and (step + 1) % 25 == 0:
            log(f"step {step + 1}/{steps} loss {np.mean(losses[-25:]):.3f}")
    if bar is not None:
        bar.close()
    train_seconds = time.perf_counter() - t0
    after = accuracy(held)
    report = {
        "examples": len(data),
        "train_examples": len(train),
        "heldout_examples": len(held),
        "steps": steps,
        "train_seconds": round(train_seconds, 2),
        "final_loss": round(float(np.mean(losses[-20:])), 4),
        "option_accuracy_before": before,
        "option_accuracy_after": after,
        "config": asdict(cfg),
        "base_model": str(model_path),
    }
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        (tmp / "metrics.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="fine-tune", unit="step")
