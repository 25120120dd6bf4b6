"""Throughput benchmarks: ``python -m kexue bench NAME``.

Each benchmark times our training loop against a plain PyTorch reference doing the same work on
the same device in the same process, and reports steps per second for both and their ratio.
"""
from __future__ import annotations

import importlib
import time
from typing import Callable

#: name -> "module:function" returning a dict of measurements (imported only when run)
BENCHMARKS = {
    "vae-cluster": "kexue.vae.experiments.clustering:benchmark",
    "nice": "kexue.flows.experiments:benchmark",
    "gan-single-loss": "kexue.gans.experiments:benchmark",
}


def get(name: str) -> Callable[..., dict]:
    try:
        module, function = BENCHMARKS[name].split(":")
    except KeyError:
        raise KeyError(f"no benchmark named {name!r}; known: {', '.join(sorted(BENCHMARKS))}") from None
    return getattr(importlib.import_module(module), function)


def steps_per_second(run: Callable[[int], None], steps: int, *, sync: Callable[[], None],
                     warmup: int = 10) -> float:
    """``run(n)`` takes n training steps: run ``warmup`` of them, then time ``steps`` more
    (``sync`` waits for the device to finish before each clock reading)."""
    run(warmup)
    sync()
    start = time.perf_counter()
    run(steps)
    sync()
    return steps / (time.perf_counter() - start)
