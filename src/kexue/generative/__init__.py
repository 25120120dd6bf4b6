"""Judging generative models, for every part that builds one (VAEs now, flows and GANs later):
``frechet`` (the Fréchet distance between two sets of images, on the features of the book's own
classifier) and ``likelihood`` (the importance-sampled log-likelihood of a latent-variable model).
Import the module you need (``from kexue.generative import frechet``) or reach it as
``kx.generative.frechet``."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
