"""Part VII: understanding classifiers. Integrated gradients and the faithfulness of attributions
(chapters/part7-classifiers/integrated-gradients.ipynb), and class imbalance through mutual
information: logit adjustment (chapters/part7-classifiers/logit-adjustment.ipynb)."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
