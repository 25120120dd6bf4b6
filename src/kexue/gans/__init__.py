"""Part V: GANs, Wasserstein duality and score-based generation."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
