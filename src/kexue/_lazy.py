"""Import a package's submodules on first attribute access (``kx.data``, ``kx.optim.adaptive``)."""
import importlib


def submodule_getattr(package: str):
    """A module-level ``__getattr__`` for ``package`` that imports ``package.name`` on first use."""

    def __getattr__(name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f".{name}", package)
        except ModuleNotFoundError as err:
            if err.name == f"{package}.{name}":
                raise AttributeError(f"module {package!r} has no attribute or submodule {name!r}") from None
            raise

    return __getattr__
