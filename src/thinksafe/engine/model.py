"""A Llama-family decoder (Llama, Qwen2, Mistral) run over a paged KV cache, with CUDA graphs.

transformers loads the weights, the config and the rotary table; this module runs the forward
pass itself because transformers' own paged/continuous path was measured far below the target
(issue 7). The projection weights are fused (q|k|v and gate|up) and transformers' own
parameters are re-pointed at views of the fused tensors, so the model costs no extra memory
and `model.generate` keeps working on the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from thinksafe.engine.ops import Ops, rotate, write_cache

SUPPORTED_TYPES = {"llama", "qwen2", "mistral"}
STATIC_ROPE = {"default", "linear", "llama3", "yarn"}


def unsupported_reason(model: Any) -> str | None:
    """Why the paged engine cannot run this model, or None when it can."""
    config = getattr(model, "config", None)
    kind = getattr(config, "model_type", None)
    if kind not in SUPPORTED_TYPES:
        return f"model type {kind!r} is not one of {sorted(SUPPORTED_TYPES)}"
    if getattr(config, "hidden_act", "silu") != "silu":
        return f"activation {config.hidden_act!r} is not silu"
    if getattr(config, "use_sliding_window", False) or (kind == "mistral" and getattr(config, "sliding_window", None)):
        return "sliding-window attention"
    if getattr(config, "mlp_bias", False):
        return "MLP bias"
    rope = getattr(getattr(getattr(model, "model", None), "rotary_emb", None), "rope_type", "default")
    if rope not in STATIC_ROPE:
        return f"rope type {rope!r} depends on sequence length"
    return None


@dataclass
class Layer:
    qkv_w: torch.Tensor
    qkv_b: torch.Tensor | None
    o_w: torch.Tensor
    gate_up_w: torch.Tensor
    down_w: torch.Tensor
    ln_in: torch.Tensor
    ln_post: torch.Tensor


def _fuse(params: list[torch.nn.Parameter]) -> torch.Tensor:
    """Concatenate along dim 0 and re-point each parameter at its slice of the result."""
    fused = torch.cat([p.data for p in params], dim=0)
    start = 0
    for p in params:
        rows = p.shape[0]
        p.data = fused[start : start + rows]
        start += rows
    return fused


class PagedModel:
    """Weights, the paged KV cache and the two forward passes (prefill and decode)."""

    def __init__(self, model: Any, *, num_pages: int, page_size: int, max_len: int, max_rows: int,
                 use_kernels: bool = True, split: int = 512):
        reason = unsupported_reason(model)
        if reason:
            raise ValueError(f"the paged engine cannot run this model: {reason}")
        config = model.config
        inner = model.model
        self.device = inner.embed_tokens.weight.device
        self.dtype = inner.embed_tokens.weight.dtype
        self.n_heads = config.num_attention_heads
        self.n_kv = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.n_heads
        self.scale = self.head_dim**-0.5
        self.eps = config.rms_norm_eps
        self.page_size = page_size
        self.max_len = max_len
        self.max_pages_per_seq = -(-max_len // page_size)
        self.embed = inner.embed_tokens.weight
        self.lm_head = model.lm_head.weight
        self.final_norm = inner.norm.weight
        self.layers = [self._layer(block) for block in inner.layers]
        self.ops = Ops.for_device(self.device, use_kernels)
        cos, sin = self._rope_table(inner.rotary_emb, max_len)
        self.cos, self.sin = cos, sin
        shape = (len(self.layers), num_pages, self.n_kv, page_size, self.head_dim)
        # Every position is written before it is read; on the CPU the pool is left uncleared so its
        # memory is only committed as pages are used (the scratch page is zeroed either way).
        make = torch.zeros if self.device.type == "cuda" else torch.empty
        self.k_cache = make(shape, dtype=self.dtype, device=self.device)
        self.v_cache = make(shape, dtype=self.dtype, device=self.device)
        self.k_cache[:, 0].zero_()
        self.v_cache[:, 0].zero_()
        self.num_pages = num_pages
        self.work = None
        if self.ops.fused:
            from thinksafe.engine.kernels import DecodeWorkspace

            self.work = DecodeWorkspace(max_rows, self.n_heads, self.head_dim, max_len, split, self.device)

    @staticmethod
    def _layer(block: Any) -> Layer:
        attn, mlp = block.self_attn, block.mlp
        biases = [attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]
        return Layer(
            qkv_w=_fuse([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]),
            qkv_b=_fuse(biases) if all(b is not None for b in biases) else None,
            o_w=attn.o_proj.weight,
            gate_up_w=_fuse([mlp.gate_proj.weight, mlp.up_proj.weight]),
            down_w=mlp.down_proj.weight,
            ln_in=block.input_layernorm.weight,
            ln_post=block.post_attention_layernorm.weight,
        )

    def _rope_table(self, rotary: Any, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin [max_len, head_dim/2] in float32, from transformers' own rotary module."""
        positions = torch.arange(max_len, device=self.device)[None]
        probe = torch.zeros(1, dtype=torch.float32, device=self.device)
        cos, sin = rotary(probe, positions)
        half = self.head_dim // 2
        return cos[0, :, :half].float().contiguous(), sin[0, :, :half].float().contiguous()

    @staticmethod
    def kv_bytes_per_token(model: Any, dtype_bytes: int = 2) -> int:
        config = model.config
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        return 2 * config.num_hidden_layers * config.num_key_value_heads * head_dim * dtype_bytes

    def weight_bytes(self) -> int:
        """Bytes a decode step reads: every layer weight, the final norm and the output projection."""
        tensors = [self.lm_head, self.final_norm]
        for layer in self.layers:
            tensors += [layer.qkv_w, layer.o_w, layer.gate_up_w, layer.down_w, layer.ln_in, layer.ln_post]
            if layer.qkv_b is not None:
                tensors.append(layer.qkv_b)
        return sum(t.numel() * t.element_size() for t in tensors)

    # -- the two forward passes ------------------------------------------------------------

    def _mlp(self, h: torch.Tensor, layer: Layer) -> torch.Tensor:
        return F.linear(self.ops.silu_mul(F.linear(h, layer.gate_up_w)), layer.down_w)

    def _next_norm(self, index: int) -> torch.Tensor:
        return self.layers[index + 1].ln_in if index + 1 < len(self.layers) else self.final_norm

    @torch.inference_mode()
    def decode(self, ids: torch.Tensor, positions: torch.Tensor, block_table: torch.Tensor,
               seq_lens: torch.Tensor) -> torch.Tensor:
        """One token per row at `positions`; returns logits [rows, vocab]. Graph-capturable."""
        ops = self.ops
        residual = F.embedding(ids, self.embed)
        h = ops.add_rmsnorm(residual, None, self.layers[0].ln_in, self.eps)
        for i, layer in enumerate(self.layers):
            qkv = F.linear(h, layer.qkv_w, layer.qkv_b)
            q = ops.rope_and_cache(qkv, self.cos, self.sin, positions, block_table, self.k_cache[i], self.v_cache[i],
                                   self.n_heads, self.n_kv, self.head_dim)
            attn = ops.paged_decode_attention(q, self.k_cache[i], self.v_cache[i], block_table, seq_lens, self.scale, self.work)
            h = ops.add_rmsnorm(F.linear(attn, layer.o_w), residual, layer.ln_post, self.eps)
            h = ops.add_rmsnorm(self._mlp(h, layer), residual, self._next_norm(i), self.eps)
        return F.linear(h, self.lm_head)

    @torch.inference_mode()
    def prefill(self, prompts: list[list[int]], tables: list[list[int]]) -> torch.Tensor:
        """Run whole prompts (no cached prefix), fill their pages; returns last-token logits [n, vocab]."""
        device, ops = self.device, self.ops
        lengths = torch.tensor([len(p) for p in prompts], device=device)
        longest = max(len(p) for p in prompts)
        rows = torch.repeat_interleave(torch.arange(len(prompts), device=device), lengths)
        starts = torch.cumsum(lengths, 0) - lengths
        positions = torch.arange(int(lengths.sum()), device=device) - starts[rows]
        ids = torch.tensor([t for p in prompts for t in p], device=device)
        width = max(len(t) for t in tables)
        table = torch.tensor([t + [0] * (width - len(t)) for t in tables], device=device)
        pages = table[rows, positions // self.page_size]
        offsets = positions % self.page_size
        cos, sin = self.cos[positions][:, None, :], self.sin[positions][:, None, :]
        n, tokens = len(prompts), ids.shape[0]

        residual = F.embedding(ids, self.embed)
        h = ops.add_rmsnorm(residual, None, self.layers[0].ln_in, self.eps)
        for i, layer in enumerate(self.layers):
            qkv = F.linear(h, layer.qkv_w, layer.qkv_b)
            q, k, v = qkv.split([self.n_heads * self.head_dim, self.n_kv * self.head_dim, self.n_kv * self.head_dim], -1)
            q = rotate(q.reshape(tokens, self.n_heads, self.head_dim), cos, sin)
            k = rotate(k.reshape(tokens, self.n_kv, self.head_dim), cos, sin)
            v = v.reshape(tokens, self.n_kv, self.head_dim)
            write_cache(k, v, pages, offsets, self.k_cache[i], self.v_cache[i])
            attn = self._prefill_attention(q, k, v, rows, positions, n, longest)
            h = ops.add_rmsnorm(F.linear(attn, layer.o_w), residual, layer.ln_post, self.eps)
            h = ops.add_rmsnorm(self._mlp(h, layer), residual, self._next_norm(i), self.eps)
        last = torch.cumsum(lengths, 0) - 1
        return F.linear(h[last], self.lm_head)

    def _prefill_attention(self, q, k, v, rows, positions, n, longest) -> torch.Tensor:
        """Causal attention per prompt: packed tokens scattered into a right-padded batch and back."""
        def padded(x: torch.Tensor) -> torch.Tensor:
            out = x.new_zeros((n, longest, x.shape[1], x.shape[2]))
            out[rows, positions] = x
            return out.transpose(1, 2)

        group = self.n_heads // self.n_kv
        kp, vp = padded(k), padded(v)
        if group > 1:
            kp, vp = kp.repeat_interleave(group, dim=1), vp.repeat_interleave(group, dim=1)
        out = F.scaled_dot_product_attention(padded(q), kp, vp, is_causal=True, scale=self.scale)
        return out.transpose(1, 2)[rows, positions].reshape(q.shape[0], -1)


class DecodeGraphs:
    """CUDA graphs of `PagedModel.decode`, one per batch-size bucket, over static input buffers."""

    def __init__(self, model: PagedModel, max_rows: int, use_graphs: bool):
        self.model = model
        device = model.device
        self.ids = torch.zeros(max_rows, dtype=torch.long, device=device)
        self.positions = torch.zeros(max_rows, dtype=torch.int32, device=device)
        self.seq_lens = torch.ones(max_rows, dtype=torch.int32, device=device)
        self.table = torch.zeros((max_rows, model.max_pages_per_seq), dtype=torch.int32, device=device)
        self.buckets = _buckets(max_rows)
        self.graphs: dict[int, tuple[Any, torch.Tensor]] = {}
        if use_graphs and device.type == "cuda":
            self._capture()

    def _capture(self) -> None:
        m = self.model
        for _ in range(2):  # compile the kernels and settle the allocator before capturing
            m.decode(self.ids[:1], self.positions[:1], self.table[:1], self.seq_lens[:1])
            m.decode(self.ids, self.positions, self.table, self.seq_lens)
        torch.cuda.synchronize()
        pool = torch.cuda.graph_pool_handle()
        for rows in sorted(self.buckets, reverse=True):
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                out = m.decode(self.ids[:rows], self.positions[:rows], self.table[:rows], self.seq_lens[:rows])
            self.graphs[rows] = (graph, out)
        torch.cuda.synchronize()

    def bucket(self, rows: int) -> int:
        return next(b for b in self.buckets if b >= rows)

    def run(self, ids: torch.Tensor, positions: torch.Tensor, table: torch.Tensor, seq_lens: torch.Tensor) -> torch.Tensor:
        """Logits [rows, vocab] for the given (CPU, pinned) inputs; padding rows read the scratch page."""
        rows = ids.shape[0]
        padded = self.bucket(rows) if self.graphs else rows
        self.ids[:rows].copy_(ids, non_blocking=True)
        self.positions[:rows].copy_(positions, non_blocking=True)
        self.seq_lens[:rows].copy_(seq_lens, non_blocking=True)
        self.table[:rows, : table.shape[1]].copy_(table, non_blocking=True)
        if padded > rows:
            self.ids[rows:padded].zero_()
            self.positions[rows:padded].zero_()
            self.seq_lens[rows:padded].fill_(1)
            self.table[rows:padded].zero_()
        if not self.graphs:
            return self.model.decode(self.ids[:rows], self.positions[:rows], self.table[:rows], self.seq_lens[:rows])
        graph, out = self.graphs[padded]
        graph.replay()
        return out[:rows]


def _buckets(max_rows: int) -> list[int]:
    sizes = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 80, 96, 112, 128]
    step = 32
    while sizes[-1] < max_rows:
        sizes.append(sizes[-1] + step)
        if sizes[-1] >= 256:
            step = 64
    return sorted({min(s, max_rows) for s in sizes})
