"""Part II's figures, tables and slider widgets, one module per idea module they draw
(``figures.dynamics`` draws :mod:`kexue.optim.dynamics`, ...), and the optimiser playground
(``figures.playground``). Import the one you need (``from kexue.optim.figures import heun``) or
reach it as ``kx.optim.figures.heun``."""
from ..._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
