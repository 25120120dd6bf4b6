"""The modules that register experiments; importing this fills :data:`kexue.experiments.REGISTRY`."""
from .linalg import linear_autoencoder  # noqa: F401  svd-linear-autoencoder
from .linalg import matrix_exp  # noqa: F401  det-exp-trace-hutchinson
from .linalg import nonsquare  # noqa: F401  injective-flow-density
from .linalg import rank_one_exp  # noqa: F401  rank-one-exp-flow
