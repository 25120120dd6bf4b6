"""Part VI: sequence models on Chinese text. Decoding, self-terminating outputs, linear attention,
and the couplet, title and language models (chapters/part6-sequences/)."""
from .._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
