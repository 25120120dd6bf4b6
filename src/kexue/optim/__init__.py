"""Part II: optimisation as dynamics, and the craft of training. One module per idea; import the
one you need (``from kexue.optim import adaptive``) or reach it as ``kx.optim.adaptive``. The
experiments' drivers are in ``experiments``; the figures, tables and sliders in the package
``figures``, the optimiser playground among them (``figures.playground``).

Serves chapters/part2-optimisation/gradient-descent-euler.ipynb, writing-an-optimiser.ipynb,
adaptive-learning-rates.ipynb, layerwise-learning-rates.ipynb and layers-and-callbacks.ipynb.
"""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
