#!/usr/bin/env python3
"""Writes tests/golden/qwen3_moe_tiny/: the reference for grpo's Qwen3-MoE parity test.

A tiny random Qwen3MoeForCausalLM from transformers (3 layers, the first dense via
mlp_only_layers, 8 experts top-2 with renormalised weights, GQA 4/2 heads, head_dim != hidden /
heads, untied LM head), saved with save_pretrained as a sharded safetensors checkpoint, and
golden.safetensors with a fixed left-padded batch: input_ids, attention_mask, position_ids, the
logits, and each MoE layer's load-balancing loss from transformers' load_balancing_loss_func.

Run with the environment that scripts/setup.sh creates:
    ~/.cache/grpo/venv/bin/python scripts/ref/make_qwen3_moe_golden.py
Float32, eager attention; the output is deterministic for a given transformers/torch version
(transformers 4.57.6, torch 2.11 here).
"""
import json
import pathlib
import shutil

import torch
import transformers
from safetensors.torch import save_file
from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM
from transformers.models.qwen3_moe.modeling_qwen3_moe import load_balancing_loss_func

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "golden" / "qwen3_moe_tiny"


def build(seed):
    torch.manual_seed(seed)
    cfg = Qwen3MoeConfig(
        vocab_size=67, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, head_dim=12,
        max_position_embeddings=64, rope_theta=1000.0, rms_norm_eps=1e-5,
        num_experts=8, num_experts_per_tok=2, moe_intermediate_size=16,
        norm_topk_prob=True, mlp_only_layers=[0], decoder_sparse_step=1,
        tie_word_embeddings=False,
        # Larger than the default 0.02 so routing and logits are far from uniform: a wrong
        # expert choice or weight then shows up well above the tolerance.
        initializer_range=0.2,
        attn_implementation="eager")
    model = Qwen3MoeForCausalLM(cfg).eval()
    with torch.no_grad():
        # Norm weights are 1 after init; perturb them so a missing or misplaced norm fails.
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
    return cfg, model


def batch(cfg):
    g = torch.Generator().manual_seed(1234)
    b, t = 3, 9
    ids = torch.randint(0, cfg.vocab_size, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.long)
    mask[1, :3] = 0   # left padding
    mask[2, :5] = 0
    ids[mask == 0] = 0
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    return ids, mask, pos


def main():
    for seed in range(100):
        cfg, model = build(seed)
        ids, mask, pos = batch(cfg)
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos,
                        output_router_logits=True)
        # The C++ side recomputes the routing; a near tie between the k-th and (k+1)-th expert
        # could flip under float32 rounding differences. Keep a seed whose real tokens all have
        # a clear margin.
        margin = min(
            (p.sort(dim=-1, descending=True).values[:, 1] -
             p.sort(dim=-1, descending=True).values[:, 2])[mask.flatten() == 1].min().item()
            for p in (torch.softmax(rl, -1) for rl in out.router_logits))
        if margin > 1e-3:
            break
    else:
        raise SystemExit("no seed with a clear routing margin")
    aux = torch.stack([
        load_balancing_loss_func((rl,), cfg.num_experts, cfg.num_experts_per_tok, mask)
        for rl in out.router_logits])
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    # Sharded on purpose: the test reads a real transformers-written index.
    model.save_pretrained(OUT, safe_serialization=True, max_shard_size="100KB")
    (OUT / "generation_config.json").unlink(missing_ok=True)
    save_file({
        "input_ids": ids.contiguous(),
        "attention_mask": mask.contiguous(),
        "position_ids": pos.contiguous(),
        "logits": out.logits.float().contiguous(),
        "aux_loss_per_layer": aux.float().contiguous(),
    }, OUT / "golden.safetensors", metadata={
        "seed": str(seed), "routing_margin": f"{margin:.6f}",
        "transformers": transformers.__version__, "torch": torch.__version__})
    total = sum(f.stat().st_size for f in OUT.iterdir())
    print(json.dumps({"dir": str(OUT), "seed": seed, "margin": margin, "bytes": total,
                      "files": sorted(f.name for f in OUT.iterdir())}))


if __name__ == "__main__":
    main()
