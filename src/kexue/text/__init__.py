"""Text shared by Parts VI and VII: the Chinese corpora, the character vocabulary and tokeniser,
and the CJK font figures draw with."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
