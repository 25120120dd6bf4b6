"""Judging generative models, for every part that builds one (VAEs, flows, GANs): ``frechet``
(the Fréchet distance between two sets of images, on the features of the book's own
classifier), ``coverage`` (the classes that classifier finds in a generator's samples),
``likelihood`` (the importance-sampled log-likelihood of a latent-variable model), ``flow`` (the
interface every flow shares) and ``dequantise`` (likelihoods of 8-bit images).
Import the module you need (``from kexue.generative import frechet``) or reach it as
``kx.generative.frechet``."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
