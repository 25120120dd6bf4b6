"""The modules that register experiments; importing this fills :data:`kexue.experiments.REGISTRY`."""
from .linalg import linear_autoencoder  # noqa: F401  svd-linear-autoencoder
from .linalg import matrix_exp  # noqa: F401  det-exp-trace-hutchinson
from .linalg import nonsquare  # noqa: F401  injective-flow-density
from .linalg import rank_one_exp  # noqa: F401  rank-one-exp-flow
from .optim import accumulation  # noqa: F401  accumulation-mnist
from .optim import heun  # noqa: F401  heun-vs-sgd-mnist
from .regularize import lipschitz  # noqa: F401  lipschitz-mnist
from .regularize import semi_supervised  # noqa: F401  vat-mnist-100
from . import layers  # noqa: F401  mnist-callbacks
from .optim import layerwise  # noqa: F401  layerwise-lr-mnist
from .optim import adaptive  # noqa: F401  adaptive-optimisers-2d
from .vae import bottleneck  # noqa: F401  vib-fashion
from .vae import autoencoder  # noqa: F401  vae-geometry-mnist
from .vae import clustering  # noqa: F401  vae-cluster-mnist, vae-cluster-fashion
from .vae import vqvae  # noqa: F401  vqvae-mnist
from .vae import eae  # noqa: F401  eae-mnist
from .vae import nvae  # noqa: F401  nvae-mnist
from .vae import infomax, vae_information  # noqa: F401  infomax-mnist, vae-information-mnist
