"""The in-process continuous-batching engine: paged KV cache, slot refill, CUDA-graph decode.

Scheduling, in the manner of vLLM: requests wait in a queue; whenever a row of the decode
batch is free and the page pool has room for a prompt, the prompt is prefilled and joins the
batch at once (a finished sequence's row is refilled on the next step, not at the end of a
batch). Pages are handed out as sequences grow; when the pool runs dry the most recently
admitted sequence is preempted (its pages freed, its prompt plus what it generated queued
again and recomputed later), so memory bounds concurrency, never correctness.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel

from thinksafe.models.base import ModelLoadError
from thinksafe.engine.model import DecodeGraphs, PagedModel, unsupported_reason

__all__ = ["EngineConfig", "EngineRequest", "EngineResult", "EngineStats", "PagedEngine", "unsupported_reason"]


class EngineConfig(BaseModel):
    """Sizes of the engine; None means derived from the device and the requests."""

    max_rows: int | None = None
    page_size: int | None = None
    num_pages: int | None = None
    kv_cache_bytes: int | None = None
    memory_fraction: float = 0.85
    prefill_tokens: int = 16384
    use_graphs: bool = True
    use_kernels: bool = True
    seed: int = 0


class EngineRequest(BaseModel):
    index: int
    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop_ids: frozenset[int] = frozenset()
    force_stop_at: int | None = None  # benchmarks only: the n-th token is replaced by a stop id


class EngineResult(BaseModel):
    index: int
    tokens: list[int]
    hit_stop: bool
    latency_s: float


class EngineStats(BaseModel):
    """What one run did: the basis of throughput and roofline figures."""

    generated_tokens: int = 0
    prefill_tokens: int = 0
    decode_steps: int = 0
    decode_rows: int = 0  # sum over steps of sequences decoded (so rows / steps = mean concurrency)
    kv_tokens_read: int = 0  # sum over steps and rows of the context length attended to
    preemptions: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    wall_s: float = 0.0


@dataclass
class _Sequence:
    request: EngineRequest
    context: list[int]
    generated: list[int] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)
    started: float = 0.0


class PagedEngine:
    """Continuous batching over a `PagedModel`; `run` streams results as sequences finish."""

    def __init__(self, model: Any, config: EngineConfig, max_len: int):
        self.config = config
        device = next(model.parameters()).device
        self.device = device
        cuda = device.type == "cuda"
        self.page_size = config.page_size or (64 if cuda else 16)
        self.max_rows = config.max_rows or (256 if cuda else 8)
        self.max_len = max_len
        pages_per_seq = -(-max_len // self.page_size)
        num_pages = config.num_pages or self._pages_for_memory(model, device, pages_per_seq)
        self.paged = PagedModel(model, num_pages=num_pages, page_size=self.page_size, max_len=max_len,
                                max_rows=self.max_rows, use_kernels=config.use_kernels)
        self.graphs = DecodeGraphs(self.paged, self.max_rows, config.use_graphs)
        self.free_pages = list(range(num_pages - 1, 0, -1))  # page 0 is the scratch page
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(config.seed)
        pin = cuda
        self._ids = torch.zeros(self.max_rows, dtype=torch.long, pin_memory=pin)
        self._pos = torch.zeros(self.max_rows, dtype=torch.int32, pin_memory=pin)
        self._lens = torch.zeros(self.max_rows, dtype=torch.int32, pin_memory=pin)
        self._table = torch.zeros((self.max_rows, pages_per_seq), dtype=torch.int32, pin_memory=pin)

    def _pages_for_memory(self, model: Any, device: torch.device, pages_per_seq: int) -> int:
        page_bytes = PagedModel.kv_bytes_per_token(model, next(model.parameters()).element_size()) * self.page_size
        if self.config.kv_cache_bytes:
            return max(2, self.config.kv_cache_bytes // page_bytes)
        if device.type != "cuda":
            return self.max_rows * pages_per_seq + 1
        free, _ = torch.cuda.mem_get_info(device)
        vocab = model.config.vocab_size
        reserve = 6 * self.max_rows * vocab * 4 + 48 * self.config.prefill_tokens * model.config.hidden_size * 2 + (1 << 30)
        budget = int(free * self.config.memory_fraction) - reserve
        return max(pages_per_seq + 1, min(budget // page_bytes, self.max_rows * pages_per_seq + 1))

    @property
    def num_pages(self) -> int:
        return self.paged.num_pages

    def _pages_needed(self, tokens: int) -> int:
        return -(-tokens // self.page_size)

    # -- the loop ---------------------------------------------------------------------------

    def run(self, requests: Iterable[EngineRequest], on_result: Callable[[EngineResult], None],
            should_stop: Callable[[], bool] | None = None) -> EngineStats:
        """Generate for every request; `on_result` is called (from this thread) as each finishes."""
        stats = EngineStats()
        started = time.perf_counter()
        waiting: deque[_Sequence] = deque()
        for request in requests:
            if len(request.prompt_ids) + request.max_new_tokens > self.max_len:
                raise ValueError(f"request {request.index} needs {len(request.prompt_ids) + request.max_new_tokens} "
                                 f"positions; the engine was built for {self.max_len}")
            waiting.append(_Sequence(request, list(request.prompt_ids)))
        running: list[_Sequence] = []  # row i of the decode batch is running[i]
        while waiting or running:
            if should_stop is not None and should_stop():
                break
            self._admit(waiting, running, on_result, stats)
            if running:
                self._decode_step(waiting, running, on_result, stats)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        for seq in running:
            self._release(seq)
        stats.wall_s = time.perf_counter() - started
        return stats

    def _admit(self, waiting: deque, running: list, on_result, stats: EngineStats) -> None:
        """Prefill as many waiting prompts as rows, pages and the token budget allow."""
        batch: list[_Sequence] = []
        tokens = 0
        watermark = max(1, self.num_pages // 100)
        while waiting and len(running) + len(batch) < self.max_rows:
            seq = waiting[0]
            need = self._pages_needed(len(seq.context) + 1)
            if len(self.free_pages) - need < watermark and (running or batch):
                break
            if need > len(self.free_pages) or (batch and tokens + len(seq.context) > self.config.prefill_tokens):
                break
            waiting.popleft()
            seq.pages = [self.free_pages.pop() for _ in range(need)]
            seq.started = seq.started or time.perf_counter()
            batch.append(seq)
            tokens += len(seq.context)
        if not batch:
            if waiting and not running:
                raise ModelLoadError("the KV cache cannot hold a single prompt; lower max_new_tokens or free GPU memory")
            return
        t0 = time.perf_counter()
        logits = self.paged.prefill([s.context for s in batch], [s.pages for s in batch])
        chosen = self._sample(logits, batch).tolist()
        stats.prefill_s += time.perf_counter() - t0
        stats.prefill_tokens += tokens
        table = self._table.numpy()
        for seq, token in zip(batch, chosen):
            if self._append(seq, token, on_result, stats):
                continue
            row = len(running)
            running.append(seq)
            table[row] = 0
            table[row, : len(seq.pages)] = seq.pages
            self._pos[row] = len(seq.context) - 1
            self._ids[row] = seq.context[-1]

    def _decode_step(self, waiting: deque, running: list, on_result, stats: EngineStats) -> None:
        self._ensure_pages(waiting, running, stats)
        rows = len(running)
        if rows == 0:
            return
        ids, pos, lens, table = self._ids[:rows], self._pos[:rows], self._lens[:rows], self._table[:rows]
        torch.add(pos, 1, out=lens)
        t0 = time.perf_counter()
        logits = self.graphs.run(ids, pos, table, lens)
        chosen = self._sample(logits, running)
        stats.decode_s += time.perf_counter() - t0
        stats.decode_steps += 1
        stats.decode_rows += rows
        stats.kv_tokens_read += int(lens.sum())
        ids.copy_(chosen)
        pos.add_(1)
        keep = [row for row, (seq, token) in enumerate(zip(running, chosen.tolist()))
                if not self._append(seq, token, on_result, stats)]
        if len(keep) < rows:
            index = torch.tensor(keep, dtype=torch.long)
            for buffer in (self._ids, self._pos, self._table):
                buffer[: len(keep)] = buffer[index]
            running[:] = [running[row] for row in keep]

    def _ensure_pages(self, waiting: deque, running: list, stats: EngineStats) -> None:
        """Give each sequence the page its next token is written to; preempt the newest if none is free."""
        rows = len(running)
        needy = (self._pos[:rows] // self.page_size).numpy() >= np.fromiter((len(s.pages) for s in running), np.int64, rows)
        table = self._table.numpy()
        for row in np.flatnonzero(needy).tolist():
            if row >= len(running):
                break
            while not self.free_pages and len(running) > row + 1:
                self._preempt(running.pop(), waiting, stats)
            if not self.free_pages:
                self._preempt(running.pop(), waiting, stats)
                break
            seq = running[row]
            seq.pages.append(self.free_pages.pop())
            table[row, len(seq.pages) - 1] = seq.pages[-1]

    def _preempt(self, seq: _Sequence, waiting: deque, stats: EngineStats) -> None:
        """Free a sequence's pages and queue it first, to be prefilled again from its whole context."""
        self._release(seq)
        waiting.appendleft(seq)
        stats.preemptions += 1

    def _release(self, seq: _Sequence) -> None:
        self.free_pages.extend(seq.pages)
        seq.pages = []

    def _append(self, seq: _Sequence, token: int, on_result, stats: EngineStats) -> bool:
        """Record one sampled token; True (and the result reported) when the sequence is finished."""
        request = seq.request
        stats.generated_tokens += 1
        n = len(seq.generated) + 1
        forced = request.force_stop_at is not None and n >= request.force_stop_at
        hit_stop = token in request.stop_ids or forced
        if not hit_stop:
            seq.generated.append(token)
            seq.context.append(token)
        if hit_stop or n >= request.max_new_tokens:
            self._release(seq)
            on_result(EngineResult(index=request.index, tokens=seq.generated, hit_stop=hit_stop,
                                   latency_s=time.perf_counter() - seq.started))
            return True
        return False

    def _sample(self, logits: torch.Tensor, seqs: list[_Sequence]) -> torch.Tensor:
        """Greedy rows take the argmax; others sample with temperature and nucleus (top-p) filtering."""
        temps = [s.request.temperature for s in seqs]
        if not any(t > 0 for t in temps):
            return logits.argmax(dim=-1).cpu()
        device = logits.device
        t = torch.tensor(temps, device=device, dtype=torch.float32)
        top_ps = [s.request.top_p for s in seqs]
        probs = torch.softmax(logits.float() / t.clamp(min=1e-5)[:, None], dim=-1)
        if any(p < 1 for p in top_ps):  # decided on the host: reading the GPU here would stall the step
            sampled = self._nucleus(probs, torch.tensor(top_ps, device=device, dtype=torch.float32))
        else:
            sampled = (probs / torch.empty_like(probs).exponential_(generator=self.generator)).argmax(dim=-1)
        if all(temp > 0 for temp in temps):
            return sampled.cpu()
        return torch.where(t > 0, sampled, logits.argmax(dim=-1)).cpu()

    def _nucleus(self, probs: torch.Tensor, top_p: torch.Tensor, candidates: int = 1024) -> torch.Tensor:
        """Sample within the smallest set of most likely tokens whose mass reaches top_p.

        The nucleus is looked for among the top `candidates` first (exact whenever their mass
        reaches top_p, as it almost always does for a trained model); otherwise over a full sort.
        """
        k = min(candidates, probs.shape[-1])
        top, order = probs.topk(k, dim=-1)
        if k == probs.shape[-1] or not bool((top.sum(dim=-1) >= top_p).all()):
            top, order = probs.sort(dim=-1, descending=True)
        drop = (top.cumsum(dim=-1) - top) > top_p[:, None]
        top = top.masked_fill(drop, 0.0)
        choice = (top / torch.empty_like(top).exponential_(generator=self.generator)).argmax(dim=-1)
        return order.gather(1, choice[:, None])[:, 0]
