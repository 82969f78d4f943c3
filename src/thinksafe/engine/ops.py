"""The paged engine's operations in plain torch: the CPU path and the reference for the kernels.

`Ops` picks the Triton kernels of `kernels.py` on CUDA (when Triton imports) and these
functions elsewhere; both compute the same function on the same cache layout
(``[pages, kv_heads, page_size, head_dim]`` per layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


def add_rmsnorm(x: torch.Tensor, residual: torch.Tensor | None, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """residual += x (in place, when given), then RMSNorm (as transformers' Llama/Qwen2 compute it)."""
    if residual is not None:
        residual.add_(x)
        x = residual
    dtype = x.dtype
    h = x.to(torch.float32)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(dtype)


def silu_mul(gate_up: torch.Tensor) -> torch.Tensor:
    gate, up = gate_up.chunk(2, dim=-1)
    return F.silu(gate) * up


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding in the non-interleaved layout of transformers' `rotate_half`; cos/sin [..., dim/2]."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def write_cache(k: torch.Tensor, v: torch.Tensor, pages: torch.Tensor, offsets: torch.Tensor,
                k_cache: torch.Tensor, v_cache: torch.Tensor) -> None:
    """Store k, v [tokens, kv_heads, dim] at (page, offset) of each token."""
    k_cache[pages, :, offsets] = k.to(k_cache.dtype)
    v_cache[pages, :, offsets] = v.to(v_cache.dtype)


def rope_and_cache(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, positions: torch.Tensor,
                   block_table: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                   n_heads: int, n_kv: int, head_dim: int) -> torch.Tensor:
    """Rotate q and k at each row's position, write k and v to the cache, return q [rows, heads, dim]."""
    rows = qkv.shape[0]
    q, k, v = qkv.split([n_heads * head_dim, n_kv * head_dim, n_kv * head_dim], dim=-1)
    c, s = cos[positions][:, None, :], sin[positions][:, None, :]
    q = rotate(q.reshape(rows, n_heads, head_dim), c, s)
    k = rotate(k.reshape(rows, n_kv, head_dim), c, s)
    page_size = k_cache.shape[2]
    pages = block_table[torch.arange(rows, device=qkv.device), positions // page_size]
    write_cache(k, v.reshape(rows, n_kv, head_dim), pages, positions % page_size, k_cache, v_cache)
    return q


def gather_pages(cache: torch.Tensor, pages: torch.Tensor, length: int) -> torch.Tensor:
    """One sequence's cached tensor [kv_heads, length, dim] from its page list."""
    n_kv, page_size, dim = cache.shape[1:]
    return cache[pages].permute(1, 0, 2, 3).reshape(n_kv, -1, dim)[:, :length]


def paged_decode_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_table: torch.Tensor,
                           seq_lens: torch.Tensor, scale: float, work: Any = None) -> torch.Tensor:
    """One query token per row against its cached keys; returns [rows, heads * dim]."""
    rows, heads, dim = q.shape
    page_size = k_cache.shape[2]
    outs = []
    for row in range(rows):
        length = int(seq_lens[row])
        pages = block_table[row, : (length + page_size - 1) // page_size]
        k = gather_pages(k_cache, pages, length)
        v = gather_pages(v_cache, pages, length)
        out = F.scaled_dot_product_attention(q[row][None, :, None, :], k[None], v[None], scale=scale, enable_gqa=True)
        outs.append(out.reshape(heads * dim))
    return torch.stack(outs)


@dataclass(frozen=True)
class Ops:
    """The set of step operations one device uses."""

    add_rmsnorm: Any
    silu_mul: Any
    rope_and_cache: Any
    paged_decode_attention: Any
    fused: bool

    @staticmethod
    def for_device(device: torch.device, use_kernels: bool = True) -> Ops:
        if device.type == "cuda" and use_kernels:
            try:
                from thinksafe.engine import kernels as k
            except ImportError:  # pragma: no cover - Triton missing on a CUDA machine
                pass
            else:
                return Ops(k.add_rmsnorm, k.silu_mul, k.rope_and_cache, k.paged_decode_attention, True)
        return Ops(add_rmsnorm, silu_mul, rope_and_cache, paged_decode_attention, False)
