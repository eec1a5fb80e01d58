"""``llm.quantize: int8``: dynamic int8 Linear layers at load, on a tiny random Llama.

The real reader's speed and Hits@1 are bench/reader_compression.py's; here the option's
contract: which layers are swapped, that ``choose`` (its grouped KV-prefix forward
included) stays finite, normalized and close to fp32, and that bad values are named.
"""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.config import AgentConfig
from kgagent.errors import ConfigError
from tests.fakes import tiny_llama


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory):
    """A 2-layer random Llama with tied embeddings (as SmolLM2), a byte-level BPE
    tokenizer and a ChatML template; loads in milliseconds."""
    return tiny_llama(
        tmp_path_factory.mktemp("tiny-lm"),
        "yes no Question Path Answers film directed by",
        layers=2,
        hidden=64,
        heads=4,
        kv_heads=2,
        tie=True,
    )


def _lm(path, **kwargs):
    from kgagent.llm.hf import TransformersLM

    return TransformersLM(str(path), **kwargs)


def _conversations() -> list[list[dict]]:
    """Questions of several candidates each: consecutive prompts share the system turn
    and the question, so ``choose`` runs them as KV-prefix groups."""
    system = {"role": "system", "content": "Answer yes or no: does the path answer it?"}
    out = []
    for q in range(4):
        for r in ("directed by", "starring", "release year"):
            user = f"Question: who made film {q} and which film {q} came after it?\nPath: {r}"
            out.append([system, {"role": "user", "content": user}])
    return out


def test_int8_swaps_the_decoder_linears_and_keeps_the_tied_head(tiny_lm_dir):
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    from kgagent.llm.hf import quantize_int8

    lm = _lm(tiny_lm_dir, quantize="int8")  # precision auto: fp32 around the int8 layers
    assert lm.dtype == torch.float32 and lm.name.endswith("+int8") and "int8" in repr(lm)
    swapped = [n for n, m in lm.model.named_modules() if isinstance(m, DynamicLinear)]
    plain = [n for n, m in lm.model.named_modules() if type(m) is torch.nn.Linear]
    assert len(swapped) == 2 * 7  # q, k, v, o, gate, up, down per layer
    assert plain == ["lm_head"]
    assert lm.model.lm_head.weight is lm.model.get_input_embeddings().weight
    fp32 = _lm(tiny_lm_dir, precision="fp32")
    assert fp32.quantize == "none"
    kept = quantize_int8(fp32.model, keep=("lm_head", "down_proj"))
    plain = [n for n, m in kept.named_modules() if type(m) is torch.nn.Linear]
    assert plain == ["model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj", "lm_head"]


def test_int8_choose_is_finite_normalized_and_close_to_fp32(tiny_lm_dir):
    convs, options = _conversations(), ["yes", "no"]
    fp32 = _lm(tiny_lm_dir, precision="fp32", batch_size=4)
    int8 = _lm(tiny_lm_dir, quantize="int8", batch_size=4)
    passes: list[tuple[int, bool]] = []  # (rows, with a cached prefix) per forward
    int8.model.register_forward_pre_hook(
        lambda m, a, kw: passes.append(
            (kw["input_ids"].shape[0], (kw.get("cache") or kw.get("past_key_values")) is not None)
        ),
        with_kwargs=True,
    )
    a, b = fp32.choose(convs, options), int8.choose(convs, options)
    assert b.shape == (len(convs), 2) and np.isfinite(b).all()
    np.testing.assert_allclose(np.exp(b).sum(axis=1), 1.0, rtol=1e-6)
    assert any(cached for _, cached in passes)  # the grouped KV-prefix path ran
    assert max(rows for rows, _ in passes) <= 4
    print("DIFF", np.abs(b - a).max())
    np.testing.assert_allclose(b, a, atol=0.05)
    alone = np.concatenate([int8.choose([c], options) for c in convs])
    # activations are quantized with one scale per tensor, the whole pass's: a prompt's
    # scores move a little with its batch (fp32: < 1e-4; here measured 0.002)
    np.testing.assert_allclose(b, alone, atol=0.02)
    assert isinstance(int8.generate(convs[:2], max_new_tokens=2)[0], str)


def test_int8_applies_after_the_adapter_merge(tiny_lm_dir, tmp_path):
    """The adapter's delta reaches the int8 weights: merged-then-quantized scores follow
    the merged fp32 model, not the bare base."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    lora = LoraConfig(r=2, lora_alpha=64, target_modules=["q_proj", "v_proj", "down_proj"],
                      init_lora_weights=False, task_type="CAUSAL_LM")  # fmt: skip
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_lm_dir), lora)
    model.save_pretrained(str(tmp_path), safe_serialization=True)
    convs, options = _conversations()[:3], ["yes", "no"]
    base = _lm(tiny_lm_dir, precision="fp32").choose(convs, options)
    merged = _lm(tiny_lm_dir, precision="fp32", adapter=tmp_path).choose(convs, options)
    both = _lm(tiny_lm_dir, quantize="int8", adapter=tmp_path)
    assert both.name.endswith("+lora:" + tmp_path.name + "+int8")
    got = both.choose(convs, options)
    assert np.abs(got - merged).max() < np.abs(got - base).max()


def test_bad_quantize_values_are_config_errors_naming_the_field(tiny_lm_dir, tmp_path):
    path = tmp_path / "kgagent.yaml"
    path.write_text("version: 1\nllm: {quantize: int4}\n")
    with pytest.raises(ConfigError, match=r"kgagent\.yaml: llm\.quantize: .*'none' or 'int8'"):
        AgentConfig.from_yaml(path)
    path.write_text("version: 1\nllm: {quantize: int8}\n")
    assert AgentConfig.from_yaml(path).llm.quantize == "int8"
    assert AgentConfig().llm.quantize == "none"
    with pytest.raises(ConfigError, match="llm quantize 'int4'"):
        _lm(tiny_lm_dir, quantize="int4")
    with pytest.raises(ConfigError, match="excludes precision 'bf16'"):
        _lm(tiny_lm_dir, quantize="int8", precision="bf16")


def test_the_builder_passes_the_option_to_the_model(tiny_lm_dir):
    from kgagent.agents.builder import build_llm
    from kgagent.config import LLMConfig

    lm = build_llm(LLMConfig(model=str(tiny_lm_dir), quantize="int8"), None)
    assert lm.quantize == "int8" and lm.name.endswith("+int8")
