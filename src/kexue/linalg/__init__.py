"""Part I: linear algebra. One module per idea (``matrix_exp``, ``nonsquare``, ``rank_one_exp``,
``linear_autoencoder``), the experiment drivers in ``experiments`` and the figures in ``figures``.
Import the module you need (``from kexue.linalg import matrix_exp``) or reach it as
``kx.linalg.matrix_exp``."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
