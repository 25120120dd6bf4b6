"""The experiments of Part VII, one module per chapter: each registers its drivers with
:mod:`kexue.experiments` (``python -m kexue reproduce NAME``; ``kx.experiments.run(NAME)``) and
imports the ideas it runs from :mod:`kexue.classifiers`. The registry imports every module here."""
from ..._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
