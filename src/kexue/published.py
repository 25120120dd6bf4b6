"""What a full run keeps beside its record, so that the book's pages can show the full-run model
(its explorers and sample figures) without training it: ``results/NAME.pt``, the tensors an
experiment's ``publish`` picks from its artifacts, floating point ones stored as float16. The
record states the file's SHA-256, size and where it came from; :func:`load` checks the checksum
before it hands the tensors out (as float32)."""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import torch


def _as_stored(value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"a published value must be a torch.Tensor, got {type(value).__name__}")
    value = value.detach().cpu()
    return value.half() if value.is_floating_point() else value


def as_levels(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] (clipped) as 8-bit grey levels: half the bytes of float16, and MNIST's
    pixels k / 255 exactly as k."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def from_levels(levels: torch.Tensor) -> torch.Tensor:
    """8-bit grey levels back to images in [0, 1] (float32)."""
    return levels.float() / 255


def save(tensors: dict, directory: str | os.PathLike, name: str) -> dict:
    """Write ``directory/NAME.pt`` (atomically) and return what the record says of it."""
    if not tensors or not all(isinstance(k, str) for k in tensors):
        raise ValueError(f"{name}: publish must return a non-empty dict of named tensors")
    stored = {key: _as_stored(value) for key, value in sorted(tensors.items())}
    big = [k for k, v in stored.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if big:
        raise ValueError(f"{name}: {big} do not fit in float16 (beyond ±65504 or not finite)")
    buffer = io.BytesIO()
    torch.save(stored, buffer)
    payload = buffer.getvalue()
    path = Path(directory) / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pt.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)
    return {"file": path.name, "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload),
            "tensors": {k: list(v.shape) for k, v in stored.items()}, "dtype": "float16"}


def load(name: str, directory: str | os.PathLike) -> tuple[dict, dict] | None:
    """``(record, tensors)``: experiment ``name``'s full record and the tensors its run published
    (floating point as float32), or None where no full record in ``directory`` (the book's
    ``results/``) publishes any. A file that does not match its record is an error."""
    folder = Path(directory)
    record_path = folder / f"{name}.json"
    if not record_path.exists():
        return None
    record = json.loads(record_path.read_text())
    entry = record.get("published")
    if record.get("profile") != "full" or not entry:
        return None
    path = folder / entry["file"]
    if not path.exists():
        raise FileNotFoundError(f"{record_path} publishes {path.name}, which is missing: rerun "
                                f"python -m kexue reproduce {name} --profile full")
    payload = path.read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    if digest != entry["sha256"]:
        raise ValueError(f"{path} has SHA-256 {digest[:12]}…, not the {entry['sha256'][:12]}… its "
                         f"record states: it was changed or is from another run; rerun python -m "
                         f"kexue reproduce {name} --profile full")
    stored = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    return record, {k: v.float() if v.is_floating_point() else v for k, v in stored.items()}


def state_dict(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``tensors`` under ``prefix.``, with the prefix taken off (a module's state)."""
    start = prefix + "."
    picked = {k[len(start):]: v for k, v in tensors.items() if k.startswith(start)}
    if not picked:
        raise KeyError(f"nothing published under {prefix!r}; published: {sorted(tensors)}")
    return picked


def module_tensors(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """A module's state as published entries ``prefix.KEY``."""
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}
