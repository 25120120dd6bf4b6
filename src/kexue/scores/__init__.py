"""Part V, score-based generation: a denoiser's optimum is the noisy data's score (Tweedie),
denoising score matching fits it, and annealed Langevin dynamics samples with it
(``denoising``, post 7038).

The chapter's experiment lives in ``kexue.scores.experiments`` and its figures in
``kexue.scores.figures``."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
