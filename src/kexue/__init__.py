"""kexue: the tested implementations behind the executable book of Su Jianlin's *Scientific Spaces*.

Chapters import it as ``import kexue as kx``; submodules (``kx.data``, ``kx.linalg`` ...) are
imported on first use.
"""
import importlib

__version__ = "0.1.0"

from . import runtime  # noqa: E402
from .runtime import device, profile, provenance, seed_everything  # noqa: E402

__all__ = ["runtime", "device", "profile", "provenance", "seed_everything", "__version__"]


def __getattr__(name: str):
    """``kx.data``, ``kx.widgets``, ``kx.linalg`` ...: import the submodule on first use."""
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as err:
        if err.name == f"{__name__}.{name}":
            raise AttributeError(f"module 'kexue' has no attribute or submodule {name!r}") from None
        raise
