"""Part I: the calculus of variations. The rotating spring in ``spring``, its figures in
``figures``. Import the module you need (``from kexue.variations import spring``) or reach it as
``kx.variations.spring``."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
