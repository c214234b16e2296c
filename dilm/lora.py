"""LoRA for the generator during gradient matching (`distill.lora_rank`), with peft.

Only low-rank adapters on the attention and MLP projections are trained; the generator is
merged back into plain weights before it is saved, so the output folder loads like any other.
"""

from __future__ import annotations

import warnings

import torch

from dilm.errors import DilmError

# Llama/SmolLM2, GPT-2 and most decoder LMs name their projections one of these ways
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "c_attn", "c_proj", "c_fc")


def add_lora(model: torch.nn.Module, rank: int, alpha: float) -> torch.nn.Module:
    """The model wrapped with trainable LoRA adapters (all other weights frozen)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:
        raise DilmError("distill.lora_rank > 0 needs peft: pip install 'dilm[lora]'") from e
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [t for t in TARGETS if t in names]
    if not targets:
        raise DilmError(f"LoRA: no known projection layers in {type(model).__name__} (looked for {TARGETS})")
    with warnings.catch_warnings():  # peft asks transformers 5 for a renamed attribute
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0,
                                                target_modules=targets))


def merge_lora(model: torch.nn.Module) -> torch.nn.Module:
    """Plain weights with the adapters merged in (the model itself when it has none)."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
