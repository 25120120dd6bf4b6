"""The package's version, in a module of its own so that ``runtime`` can read it without importing
the package's ``__init__`` (which imports ``runtime``)."""
__version__ = "0.1.0"
