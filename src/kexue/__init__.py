"""kexue: the tested implementations behind the executable book of Su Jianlin's *Scientific Spaces*.

Chapters import it as ``import kexue as kx``.
"""
__version__ = "0.1.0"

from . import runtime  # noqa: E402
from .runtime import device, profile, provenance, seed_everything  # noqa: E402

__all__ = ["runtime", "device", "profile", "provenance", "seed_everything", "__version__"]
