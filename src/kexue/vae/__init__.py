"""Part III: variational autoencoders seen whole. One module per idea: ``gaussian`` (the Gaussian
algebra every VAE uses), ``networks`` (the encoders and decoders), and one module per chapter.
Import the module you need (``from kexue.vae import gaussian``) or reach it as ``kx.vae.gaussian``.

The chapters' experiments live in ``kexue.vae.experiments`` and their figures and tables in
``kexue.vae.figures``, one module per chapter in each (``kx.vae.figures.clustering``)."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
