"""Part IV: normalising flows. One module per idea: ``nice`` (additive couplings and a diagonal
scale, post 5776) and ``iresnet`` (invertible residual blocks, post 6482). The flows share
:class:`kexue.generative.flow.Flow`; their likelihoods are reported with
:mod:`kexue.generative.dequantise` and their samples judged with :mod:`kexue.generative.frechet`.

The chapters' experiments live in ``kexue.flows.experiments`` and their figures in
``kexue.flows.figures``."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
