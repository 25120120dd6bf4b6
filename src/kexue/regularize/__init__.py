"""Part II, last two chapters: regularisers that constrain or smooth a model (Lipschitz constraints,
input noise, gradient penalties, adversarial and virtual adversarial training). Import the module
you need (``from kexue.regularize import lipschitz``) or reach it as ``kx.regularize.lipschitz``."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
