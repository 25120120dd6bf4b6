"""The modules that register experiments; importing this fills :data:`kexue.experiments.REGISTRY`."""
