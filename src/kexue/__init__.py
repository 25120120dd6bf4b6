"""kexue: the tested implementations behind the executable book of Su Jianlin's *Scientific Spaces*.

Chapters import it as ``import kexue as kx``; submodules (``kx.data``, ``kx.linalg`` ...) are
imported on first use.
"""
from . import runtime  # noqa: E402
from ._lazy import submodule_getattr  # noqa: E402
from ._version import __version__  # noqa: E402
from .runtime import device, profile, provenance, seed_everything  # noqa: E402

__all__ = ["runtime", "device", "profile", "provenance", "seed_everything", "__version__"]


__getattr__ = submodule_getattr(__name__)  # kx.data, kx.widgets, kx.linalg ... on first use
