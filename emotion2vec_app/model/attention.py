"""FunASR's emotion2vec attention, computed by torch's fused scaled_dot_product_attention.

FunASR's AltAttention materialises the (B, H, T, T) scores itself, in float32 whatever the
model dtype, adds the ALiBi bias, and runs softmax and the value product as separate
kernels. SDPA does the same maths in one fused kernel with the bias as its mask, in the
compute dtype. Only the forward of each attention instance is replaced, never the class,
and tests hold the outputs to FunASR's own within 1e-5 in float32.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F


def _sdpa_forward(self, x, padding_mask=None, alibi_bias=None):
    batch, length, channels = x.shape
    qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, channels // self.num_heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, T, D)
    mask = None
    if alibi_bias is not None:
        # FunASR adds the bias to the first alibi_bias.size(1) heads; here that is all heads.
        mask = alibi_bias.to(q.dtype)
    if padding_mask is not None and padding_mask.any():
        padded = padding_mask[:, None, None, :].to(torch.bool)
        base = mask if mask is not None else q.new_zeros(batch, 1, length, length)
        mask = base.masked_fill(padded, float("-inf"))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale)
    return self.proj(out.transpose(1, 2).reshape(batch, length, channels))


def use_fused_attention(network: torch.nn.Module) -> int:
    """Switch every eligible attention of `network` to SDPA; return how many were switched."""
    switched = 0
    for module in network.modules():
        if type(module).__name__ != "AltAttention" or module.cosine_attention:
            continue
        if module.num_heads and module.qkv.out_features % (3 * module.num_heads):
            continue
        module.forward = types.MethodType(_sdpa_forward, module)
        switched += 1
    return switched
