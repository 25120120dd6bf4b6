"""The figures, tables and widgets of Part III's chapters, one module per chapter, drawn from the
metrics and artifacts of its experiments (:mod:`kexue.vae.experiments`). Import the module you
need (``from kexue.vae.figures import clustering``) or reach it as ``kx.vae.figures.clustering``."""
from ..._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
