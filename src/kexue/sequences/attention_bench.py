"""The benchmark ``python -m kexue bench linear-attention``: causal attention's forward and backward
pass at growing lengths n, three ways on the same inputs: (a) the literal prefix sums of
:func:`~kexue.sequences.linear_attention.naive_causal_linear_attention` (memory O(n d²)), (b) our
chunked :func:`~kexue.sequences.linear_attention.causal_linear_attention` and (c) PyTorch's
``scaled_dot_product_attention(is_causal=True)`` (softmax attention, O(n²) time).

Time is the median of timed passes after one warm-up pass (at least ``repeats``, more while they
take under half a second in all: on a CPU shared with other work a few passes can be slowed many
times over, while a thread waits for a core another process holds). Peak memory is the most
bytes held at once during one more pass, counted over what was held before it (the inputs and the
output gradient are not counted; the output, what autograd saves and the input gradients are): on
CUDA from ``torch.cuda.max_memory_allocated``, on the CPU from the allocation and release events the
PyTorch profiler records for every tensor allocation (``profile_memory=True``), summed in order.

Serves chapters/part6-sequences/linear-attention.ipynb (post 7546).
"""
from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from .. import runtime
from ..checks import positive, positive_int
from .linear_attention import causal_linear_attention, naive_causal_linear_attention

__all__ = ["LENGTHS", "METHODS", "benchmark", "naive_bytes"]

LENGTHS = (512, 1024, 2048, 4096, 8192, 16384)
#: (a), (b), (c): name -> causal attention of q, k, v [batch, heads, n, d]
METHODS = {
    "naive": naive_causal_linear_attention,
    "chunked": causal_linear_attention,
    "sdpa": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
}
MIB = 2 ** 20
#: the naive form's peak, in units of one [batch, heads, n, d, d] tensor: the outer products and their
#: prefix sums, then in the backward pass the gradient of the sums and its reversed prefix sums
#: (measured 4.06 on the CPU in float32, d = 64)
NAIVE_TENSORS = 4


def naive_bytes(batch: int, heads: int, n: int, head_dim: int, itemsize: int = 4) -> int:
    """The naive form's estimated peak: :data:`NAIVE_TENSORS` tensors of batch·heads·n·d² items."""
    return NAIVE_TENSORS * batch * heads * n * head_dim ** 2 * itemsize


@contextlib.contextmanager
def _quiet_stderr():
    """Send what C++ code writes to the process's stderr to /dev/null (the profiler's tracing
    library logs two lines there per use)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_bytes(step, dev: torch.device) -> int:
    """The most bytes ``step()`` holds at once beyond what was held when it began."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
        step()
        torch.cuda.synchronize(dev)
        return torch.cuda.max_memory_allocated(dev) - before
    with _quiet_stderr(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                                 profile_memory=True) as prof:
        step()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    held = peak = 0
    for event in events:  # +bytes at an allocation, -bytes at a release
        held += event.nbytes()
        peak = max(peak, held)
    return peak


def _seconds(step, sync, repeats: int, *, budget: float = 0.5, most: int = 50) -> float:
    """The median time of calls of ``step`` after one warm-up call: ``repeats`` of them, and more
    (up to ``most``) while they have taken less than ``budget`` seconds in all; a median of many
    calls shrugs off the moments another process holds a core."""
    step()
    times = []
    while len(times) < repeats or (sum(times) < budget and len(times) < most):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def benchmark(*, lengths=LENGTHS, batch: int = 1, heads: int = 4, head_dim: int = 64,
              chunk_size: int = 64, repeats: int = 3, naive_cap_mib: float = 3072,
              device: str | None = None, seed: int = 0) -> dict:
    """Forward+backward time and peak memory of :data:`METHODS` at each of ``lengths``, float32
    inputs [batch, heads, n, head_dim] (elu+1 features for the linear forms); the naive form is
    skipped where :func:`naive_bytes` exceeds ``naive_cap_mib``. One row per length; ``ratio`` is
    the naive time over ours at n = 4096 (or the longest length at which both ran)."""
    lengths = [positive_int(n, "lengths") for n in lengths]
    batch, heads = positive_int(batch, "batch"), positive_int(heads, "heads")
    head_dim, repeats = positive_int(head_dim, "head_dim"), positive_int(repeats, "repeats")
    chunk_size, cap = positive_int(chunk_size, "chunk_size"), positive(naive_cap_mib, "naive_cap_mib")
    dev = runtime.device(device)
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"the linear-attention benchmark measures memory on cpu or cuda, not {dev.type}")
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    methods = dict(METHODS, chunked=lambda q, k, v: causal_linear_attention(q, k, v,
                                                                            chunk_size=chunk_size))
    if all(naive_bytes(batch, heads, n, head_dim) > cap * MIB for n in lengths):
        raise ValueError(f"the naive form would be skipped at every length (cap {cap:.0f} MiB): "
                         "nothing to compare")
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for n in lengths:
        q, k, v, grad = (torch.randn(batch, heads, n, head_dim, generator=gen).to(dev) for _ in range(4))
        q, k, v = (t.requires_grad_() for t in (q, k, v))
        seconds, mib, skipped = {}, {}, None
        for name, fn in methods.items():
            seconds[name] = mib[name] = None
            if name == "naive" and naive_bytes(batch, heads, n, head_dim) > cap * MIB:
                skipped = (f"naive: estimated {naive_bytes(batch, heads, n, head_dim) / MIB:.0f} MiB "
                           f"> cap {cap:.0f} MiB")
                continue

            def step(fn=fn):
                torch.autograd.grad(fn(q, k, v), (q, k, v), grad)

            seconds[name] = _seconds(step, sync, repeats)
            mib[name] = peak_bytes(step, dev) / MIB
        row = {"n": n, **{f"{m}_s": s for m, s in seconds.items()},
               **{f"{m}_mib": b for m, b in mib.items()}}
        for name in ("naive", "sdpa"):
            row[f"{name}/chunked"] = None if seconds[name] is None else seconds[name] / seconds["chunked"]
        row["skipped"] = skipped
        rows.append(row)
    both = [r for r in rows if r["naive_s"] is not None]
    at = next((r for r in both if r["n"] == 4096), both[-1])
    return {"device": runtime.provenance(dev)["device_name"], "threads": torch.get_num_threads(),
            "batch": batch, "heads": heads, "head_dim": head_dim, "dtype": "float32",
            "feature_map": "elu+1", "chunk_size": chunk_size, "repeats": repeats,
            "time": f"forward+backward seconds, median of >= {repeats} passes after a warm-up",
            "memory": ("peak MiB beyond the inputs: " + ("torch.cuda.max_memory_allocated"
                       if dev.type == "cuda" else "PyTorch profiler allocation events")),
            "naive_cap_mib": cap, "rows": rows, "ratio": at["naive/chunked"],
            "ratio_means": f"naive / chunked causal linear attention, time at n = {at['n']}"}
