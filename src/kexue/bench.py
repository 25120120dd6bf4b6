"""Benchmarks: ``python -m kexue bench NAME``.

Each benchmark times our code against a plain PyTorch reference doing the same work on the same
device in the same process, and reports a ``ratio`` (what it means in ``ratio_means``): training
steps per second for both, or, for ``linear-attention``, a table of ``rows`` (times and peak memory
at growing sequence lengths).
"""
from __future__ import annotations

import importlib
import json
import os
import time
from pathlib import Path
from typing import Callable

#: name -> "module:function" returning a dict of measurements (imported only when run)
BENCHMARKS = {
    "vae-cluster": "kexue.vae.experiments.clustering:benchmark",
    "nice": "kexue.flows.experiments:benchmark",
    "gan-single-loss": "kexue.gans.experiments:benchmark",
    "linear-attention": "kexue.sequences.attention_bench:benchmark",
    "bert-mlm": "kexue.sequences.pretraining:benchmark",
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


def table(rows: list[dict]) -> str:
    """``rows`` (dicts with the same keys) as right-aligned text columns: floats to 4 significant
    digits, None as "-"."""
    columns = list(rows[0])
    cells = [["-" if r[c] is None else f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c])
              for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    return "\n".join("  ".join(x.rjust(w) for x, w in zip(line, widths)).rstrip()
                     for line in [columns, *cells])


def save(name: str, result: dict, provenance: dict, folder: Path) -> Path:
    """Write ``folder/bench/NAME.json`` atomically: the benchmark's name, its result and where it
    ran. Bench records sit in their own folder, apart from the experiments' ``NAME.json``."""
    path = Path(folder) / "bench" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"benchmark": name, "result": result, "provenance": provenance},
                              indent=2) + "\n")
    os.replace(tmp, path)
    return path


def load(name: str, folder: Path | None = None) -> dict | None:
    """The saved record of benchmark ``name`` (``results/bench/NAME.json``), None if there is none."""
    from .experiments import results_dir

    path = Path(folder if folder is not None else results_dir()) / "bench" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
