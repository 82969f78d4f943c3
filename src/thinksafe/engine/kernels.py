"""Triton kernels for the paged engine's decode step (CUDA only; imported lazily).

Each kernel has a plain-torch twin in `ops.py`; the engine uses these on CUDA and the
twins elsewhere, and `benchmarks/gpu_generate.py --check` compares the two on the GPU.

KV cache layout, per layer: ``[pages, kv_heads, page_size, head_dim]``. Page 0 is a scratch
page that padded batch rows read and write, so a CUDA graph captured for a batch bucket never
touches a real sequence's cache from its padding rows.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _add_rmsnorm_kernel(x_ptr, res_ptr, w_ptr, out_ptr, n_cols, eps, stride_x, stride_r, stride_o,
                        HAS_RES: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * stride_x + cols, mask=mask, other=0.0)
    if HAS_RES:
        r = tl.load(res_ptr + row * stride_r + cols, mask=mask, other=0.0)
        x = (x.to(tl.float32) + r.to(tl.float32)).to(r.dtype)
        tl.store(res_ptr + row * stride_r + cols, x, mask=mask)
    xf = x.to(tl.float32)
    var = tl.sum(xf * xf, axis=0) / n_cols
    y = (xf * tl.rsqrt(var + eps)).to(x.dtype)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0)
    tl.store(out_ptr + row * stride_o + cols, (y.to(tl.float32) * w.to(tl.float32)).to(x.dtype), mask=mask)


def add_rmsnorm(x: torch.Tensor, residual: torch.Tensor | None, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """residual += x (when given), then RMSNorm of the sum (or of x) times weight."""
    rows, cols = x.shape
    out = torch.empty_like(x)
    res = residual if residual is not None else x
    _add_rmsnorm_kernel[(rows,)](
        x, res, weight, out, cols, eps, x.stride(0), res.stride(0), out.stride(0),
        HAS_RES=residual is not None, BLOCK=triton.next_power_of_2(cols), num_warps=8,
    )
    return out


@triton.jit
def _silu_mul_kernel(gu_ptr, out_ptr, inter, stride_gu, stride_o, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    block = tl.program_id(1)
    cols = block * BLOCK + tl.arange(0, BLOCK)
    mask = cols < inter
    g = tl.load(gu_ptr + row * stride_gu + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(gu_ptr + row * stride_gu + inter + cols, mask=mask, other=0.0)
    act = (g / (1.0 + tl.exp(-g))).to(u.dtype)
    tl.store(out_ptr + row * stride_o + cols, act * u, mask=mask)


def silu_mul(gate_up: torch.Tensor) -> torch.Tensor:
    """silu(gate) * up for a fused [rows, 2 * inter] projection."""
    rows, width = gate_up.shape
    inter = width // 2
    out = torch.empty((rows, inter), dtype=gate_up.dtype, device=gate_up.device)
    block = 1024
    _silu_mul_kernel[(rows, triton.cdiv(inter, block))](gate_up, out, inter, gate_up.stride(0), out.stride(0), BLOCK=block)
    return out


@triton.jit
def _rope_cache_kernel(qkv_ptr, q_out_ptr, cos_ptr, sin_ptr, pos_ptr, bt_ptr, k_cache_ptr, v_cache_ptr,
                       stride_qkv, stride_qo_b, stride_qo_h, stride_cos, stride_bt,
                       stride_cp, stride_ch, stride_ct,
                       N_HEADS: tl.constexpr, N_KV: tl.constexpr, HALF: tl.constexpr, PAGE: tl.constexpr):
    b = tl.program_id(0)
    h = tl.program_id(1)
    pos = tl.load(pos_ptr + b)
    i = tl.arange(0, HALF)
    cos = tl.load(cos_ptr + pos * stride_cos + i)
    sin = tl.load(sin_ptr + pos * stride_cos + i)
    base = qkv_ptr + b * stride_qkv + h * (2 * HALF)
    x1 = tl.load(base + i).to(tl.float32)
    x2 = tl.load(base + HALF + i).to(tl.float32)
    o1 = x1 * cos - x2 * sin
    o2 = x2 * cos + x1 * sin
    if h < N_HEADS:
        dst = q_out_ptr + b * stride_qo_b + h * stride_qo_h
        tl.store(dst + i, o1.to(q_out_ptr.dtype.element_ty))
        tl.store(dst + HALF + i, o2.to(q_out_ptr.dtype.element_ty))
    else:
        kh = h - N_HEADS
        page = tl.load(bt_ptr + b * stride_bt + pos // PAGE).to(tl.int64)
        off = page * stride_cp + kh * stride_ch + (pos % PAGE) * stride_ct
        tl.store(k_cache_ptr + off + i, o1.to(k_cache_ptr.dtype.element_ty))
        tl.store(k_cache_ptr + off + HALF + i, o2.to(k_cache_ptr.dtype.element_ty))
        vsrc = qkv_ptr + b * stride_qkv + (N_HEADS + N_KV + kh) * (2 * HALF)
        v1 = tl.load(vsrc + i)
        v2 = tl.load(vsrc + HALF + i)
        tl.store(v_cache_ptr + off + i, v1)
        tl.store(v_cache_ptr + off + HALF + i, v2)


def rope_and_cache(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, positions: torch.Tensor,
                   block_table: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                   n_heads: int, n_kv: int, head_dim: int) -> torch.Tensor:
    """Rotate q and k at each row's position, write k and v to the paged cache, return q [rows, heads, dim]."""
    rows = qkv.shape[0]
    q = torch.empty((rows, n_heads, head_dim), dtype=qkv.dtype, device=qkv.device)
    page = k_cache.shape[2]
    _rope_cache_kernel[(rows, n_heads + n_kv)](
        qkv, q, cos, sin, positions, block_table, k_cache, v_cache,
        qkv.stride(0), q.stride(0), q.stride(1), cos.stride(0), block_table.stride(0),
        k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
        N_HEADS=n_heads, N_KV=n_kv, HALF=head_dim // 2, PAGE=page, num_warps=1,
    )
    return q


@triton.jit
def _decode_partial_kernel(q_ptr, k_ptr, v_ptr, bt_ptr, lens_ptr, o_ptr, lse_ptr, scale,
                           stride_qb, stride_qh, stride_kp, stride_kh, stride_kt, stride_bt,
                           stride_ob, stride_oh, stride_os, stride_lb, stride_lh,
                           GROUP: tl.constexpr, GROUP_PAD: tl.constexpr, D: tl.constexpr,
                           PAGE: tl.constexpr, SPLIT: tl.constexpr):
    b = tl.program_id(0)
    kvh = tl.program_id(1)
    s = tl.program_id(2)
    length = tl.load(lens_ptr + b)
    start = s * SPLIT
    if start < length:
        g = tl.arange(0, GROUP_PAD)
        d = tl.arange(0, D)
        t = tl.arange(0, PAGE)
        gmask = g < GROUP
        heads = kvh * GROUP + g
        q = tl.load(q_ptr + b * stride_qb + heads[:, None] * stride_qh + d[None, :], mask=gmask[:, None], other=0.0)
        m = tl.full([GROUP_PAD], float("-inf"), tl.float32)
        l = tl.zeros([GROUP_PAD], tl.float32)
        acc = tl.zeros([GROUP_PAD, D], tl.float32)
        end = tl.minimum(start + SPLIT, length)
        for p0 in range(start, end, PAGE):
            page = tl.load(bt_ptr + b * stride_bt + p0 // PAGE).to(tl.int64)
            base = page * stride_kp + kvh * stride_kh
            tmask = (p0 + t) < end
            k = tl.load(k_ptr + base + t[:, None] * stride_kt + d[None, :], mask=tmask[:, None], other=0.0)
            qk = tl.dot(q, tl.trans(k)) * scale
            qk = tl.where(tmask[None, :], qk, float("-inf"))
            m_new = tl.maximum(m, tl.max(qk, 1))
            alpha = tl.exp(m - m_new)
            p = tl.exp(qk - m_new[:, None])
            l = l * alpha + tl.sum(p, 1)
            v = tl.load(v_ptr + base + t[:, None] * stride_kt + d[None, :], mask=tmask[:, None], other=0.0)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
            m = m_new
        out = acc / l[:, None]
        tl.store(o_ptr + b * stride_ob + heads[:, None] * stride_oh + s * stride_os + d[None, :], out, mask=gmask[:, None])
        tl.store(lse_ptr + b * stride_lb + heads * stride_lh + s, m + tl.log(l), mask=gmask)


@triton.jit
def _decode_reduce_kernel(o_ptr, lse_ptr, lens_ptr, out_ptr,
                          stride_ob, stride_oh, stride_os, stride_lb, stride_lh, stride_outb, stride_outh,
                          D: tl.constexpr, SPLIT: tl.constexpr, MAX_SPLITS: tl.constexpr):
    b = tl.program_id(0)
    h = tl.program_id(1)
    length = tl.load(lens_ptr + b)
    n = tl.cdiv(length, SPLIT)
    s = tl.arange(0, MAX_SPLITS)
    d = tl.arange(0, D)
    smask = s < n
    lse = tl.load(lse_ptr + b * stride_lb + h * stride_lh + s, mask=smask, other=float("-inf"))
    top = tl.max(lse, 0)
    w = tl.where(smask, tl.exp(lse - top), 0.0)
    o = tl.load(o_ptr + b * stride_ob + h * stride_oh + s[:, None] * stride_os + d[None, :], mask=smask[:, None], other=0.0)
    out = tl.sum(o * w[:, None], 0) / tl.sum(w, 0)
    tl.store(out_ptr + b * stride_outb + h * stride_outh + d, out.to(out_ptr.dtype.element_ty))


class DecodeWorkspace:
    """Scratch buffers for split attention, sized once so CUDA graphs can capture them."""

    def __init__(self, rows: int, heads: int, head_dim: int, max_len: int, split: int, device: torch.device):
        self.split = split
        self.max_splits = triton.next_power_of_2(max(1, triton.cdiv(max_len, split)))
        self.partial = torch.empty((rows, heads, self.max_splits, head_dim), dtype=torch.float32, device=device)
        self.lse = torch.empty((rows, heads, self.max_splits), dtype=torch.float32, device=device)


def paged_decode_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_table: torch.Tensor,
                           seq_lens: torch.Tensor, scale: float, work: DecodeWorkspace) -> torch.Tensor:
    """One query token per row against its cached keys (lengths seq_lens, paged); returns [rows, heads * dim]."""
    rows, heads, dim = q.shape
    n_kv, page = k_cache.shape[1], k_cache.shape[2]
    group = heads // n_kv
    o, lse = work.partial[:rows], work.lse[:rows]
    _decode_partial_kernel[(rows, n_kv, work.max_splits)](
        q, k_cache, v_cache, block_table, seq_lens, o, lse, scale,
        q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2), block_table.stride(0),
        o.stride(0), o.stride(1), o.stride(2), lse.stride(0), lse.stride(1),
        GROUP=group, GROUP_PAD=max(16, triton.next_power_of_2(group)), D=dim, PAGE=page, SPLIT=work.split,
        num_warps=4, num_stages=2,
    )
    out = torch.empty((rows, heads, dim), dtype=q.dtype, device=q.device)
    _decode_reduce_kernel[(rows, heads)](
        o, lse, seq_lens, out, o.stride(0), o.stride(1), o.stride(2), lse.stride(0), lse.stride(1),
        out.stride(0), out.stride(1), D=dim, SPLIT=work.split, MAX_SPLITS=work.max_splits, num_warps=4,
    )
    return out.view(rows, heads * dim)
