"""Part II: optimisation as dynamics, and the craft of training. One module per idea; import the
one you need (``from kexue.optim import adaptive``) or reach it as ``kx.optim.adaptive``."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
