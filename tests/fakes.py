"""Deterministic stand-ins for the LLM in unit tests (the real model runs in slow tests).

:class:`OverlapLM` is public, for users' tests too: :mod:`kgagent.testing.fakes`.
"""

from __future__ import annotations

from pathlib import Path

from kgagent.testing.fakes import OverlapLM

__all__ = ["CHATML", "OverlapLM", "tiny_llama"]

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_llama(directory: Path, words: str, *, layers: int, hidden: int, heads: int,
               kv_heads: int, tie: bool = False) -> Path:  # fmt: skip
    """A random Llama with a byte-level BPE tokenizer trained on ``words`` and a ChatML
    template, saved in ``directory``: what TransformersLM loads, in milliseconds."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([words] * 50, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>",
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>")  # fmt: skip
    fast.chat_template = CHATML
    fast.save_pretrained(directory)
    torch.manual_seed(0)
    sizes = dict(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                 num_attention_heads=heads, num_key_value_heads=kv_heads)  # fmt: skip
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), tie_word_embeddings=tie, **sizes)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory
