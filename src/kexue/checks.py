"""Input checks shared by the chapters' modules.

Each check returns the value it was given (converted where said) or raises a TypeError or
ValueError whose message names the argument, says what it must be and what was got. Checks that
belong to one construction (a square matrix, ``k <= n`` columns, a divergence) stay in its module,
built on these.
"""
from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch

__all__ = ["real_number", "positive", "non_negative", "fraction", "positive_int",
           "non_negative_int", "float_tensor", "label_tensor"]


def real_number(value, name: str) -> float:
    """``value`` as a float, if it is a finite real number (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def positive(value, name: str) -> float:
    """``value`` as a float, if it is a finite real number > 0."""
    value = real_number(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def non_negative(value, name: str) -> float:
    """``value`` as a float, if it is a finite real number >= 0."""
    value = real_number(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def fraction(value, name: str) -> float:
    """``value`` as a float, if it is a real number in [0, 1) (a decay rate, a momentum)."""
    value = real_number(value, name)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


def positive_int(value, name: str) -> int:
    """``value`` as an int, if it is an integer >= 1 (a bool or a float is not; ValueError either way)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def non_negative_int(value, name: str) -> int:
    """``value`` as an int, if it is an integer >= 0 (a bool or a float is not; ValueError
    either way)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def float_tensor(t, name: str, *, ndim: int | None = None, nonempty: bool = False,
                 dtypes: tuple[torch.dtype, ...] | None = None, complex_ok: bool = False,
                 numpy_ok: bool = False, finite: bool = True) -> torch.Tensor:
    """``t`` if it is a finite tensor of a real floating dtype (or one of ``dtypes``, or complex
    where ``complex_ok``), of ``ndim`` dimensions and non-empty where asked; with ``numpy_ok`` a
    numpy array is accepted and returned as a tensor sharing its memory. ``finite=False`` skips
    the finiteness check, which reads the tensor back to the host: models check their batches
    that way inside training loops, where a per-step device sync would stall a GPU."""
    if numpy_ok and isinstance(t, np.ndarray):
        t = torch.from_numpy(t)
    if not isinstance(t, torch.Tensor):
        kinds = "a torch.Tensor or numpy.ndarray" if numpy_ok else "a torch.Tensor"
        raise TypeError(f"{name} must be {kinds}, got {type(t).__name__}")
    if dtypes is not None:
        if t.dtype not in dtypes:
            names = " or ".join(str(d).removeprefix("torch.") for d in dtypes)
            raise TypeError(f"{name} must be {names}, got {t.dtype}")
    elif complex_ok:
        if not (t.is_floating_point() or t.is_complex()):
            raise TypeError(f"{name} must have a floating or complex dtype, got {t.dtype}")
    elif not t.is_floating_point():
        raise TypeError(f"{name} must have a real floating dtype (a floating-point dtype such as "
                        f"float32 or float64), got {t.dtype}")
    if ndim is not None and t.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got a {t.ndim}-D tensor of shape {tuple(t.shape)}")
    if nonempty and t.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(t.shape)}")
    if finite and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} must be finite, got {bad} non-finite entries (nan or inf) of "
                         f"{t.numel()}")
    return t


def label_tensor(y, name: str, *, n: int) -> torch.Tensor:
    """``y`` if it is an int64 tensor of ``n`` class labels, shape ``(n,)``."""
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64:
        raise TypeError(f"{name} must be an int64 tensor of class labels, got "
                        f"{getattr(y, 'dtype', type(y).__name__)}")
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one label per sample, got "
                         f"{tuple(y.shape)}")
    return y
