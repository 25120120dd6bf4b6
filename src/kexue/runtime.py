"""Where and how code runs: the device, CPU threads, seeds, the run profile, and provenance for
records.

The profile (``KEXUE_PROFILE``) is ``quick`` or ``full``. Unset, it is ``full`` where CUDA is
available and ``quick`` elsewhere: ``quick`` is what the book build and CI run on a 2-core CPU,
``full`` reproduces a post's result on a GPU.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

from ._version import __version__
from .checks import non_negative_int, positive_int

PROFILES = ("quick", "full")


def device(prefer: str | None = None, *, float64: bool = False) -> torch.device:
    """The device to compute on: ``prefer`` or ``KEXUE_DEVICE`` if given (cuda, cuda:N, mps or
    cpu), else cuda, then mps, then cpu. ``float64=True`` skips MPS, which has no float64."""
    name = prefer or os.environ.get("KEXUE_DEVICE")
    if name:
        try:
            dev = torch.device(name)
            known = dev.type in ("cuda", "mps", "cpu")
        except (RuntimeError, TypeError):  # not a device string at all
            known = False
        if not known:
            source = "" if prefer else " (from KEXUE_DEVICE)"
            raise ValueError(f"unknown device {name!r}{source}: use cuda, cuda:N (the N-th GPU), "
                             "mps or cpu")
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} was asked for but CUDA is not available")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"device {name!r} was asked for but MPS is not available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available() and not float64:
        return torch.device("mps")
    return torch.device("cpu")


@contextlib.contextmanager
def cpu_threads(n: int, device: torch.device | str | None = None):
    """Run the block on ``n`` intra-op CPU threads (``torch.set_num_threads``), restored on exit;
    nothing changes when ``device`` is given and is not the CPU. For tiny networks: their tensors
    gain nothing from a second thread, and on a busy machine a waiting OpenMP thread slows every
    one of their many small steps (more than tenfold, measured on 2 shared cores)."""
    n = positive_int(n, "n")
    if device is not None and torch.device(device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def seeded_init(seed: int | None):
    """Within the block, draw from the CPU generator seeded with ``seed`` (when not None), and
    restore the global random state afterwards: seeded weights leave the caller's stream alone."""
    if seed is not None:
        seed = non_negative_int(seed, "seed")
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.default_generator.manual_seed(seed)
        yield


def profile() -> str:
    """The run profile: ``KEXUE_PROFILE`` if set (``quick`` or ``full``), else full on CUDA, quick elsewhere."""
    value = os.environ.get("KEXUE_PROFILE", "").strip().lower()
    if not value:
        return "full" if torch.cuda.is_available() else "quick"
    if value not in PROFILES:
        raise ValueError(f"KEXUE_PROFILE must be one of {PROFILES}, got {value!r}")
    return value


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded the same way."""
    seed = non_negative_int(seed, "seed")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def checkout() -> Path | None:
    """The book's checkout this package runs from (an editable install), or None when installed."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "kexue").is_dir() else None


def _git(*args: str) -> str | None:
    root = checkout()
    if root is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                             timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def provenance(dev: torch.device | None = None) -> dict:
    """What a record needs to say where it came from: device, versions, commit, date."""
    dev = dev or device()
    if dev.type == "cuda":
        device_name = torch.cuda.get_device_name(dev)
    elif dev.type == "mps":
        device_name = "Apple MPS"
    else:
        device_name = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return {
        "device": dev.type,
        "device_name": device_name,
        "torch": torch.__version__,
        "kexue": __version__,
        "python": platform.python_version(),
        "git_commit": _git("rev-parse", "HEAD") or None,
        # True when the package's sources differ from that commit (the record is then not its own)
        "git_dirty": None if checkout() is None else bool(_git("status", "--porcelain", "--", "src")),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
