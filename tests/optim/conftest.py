"""Small runs of Part II's experiments, made once per session and shared by the tests of the drivers
(test_experiments.py) and of the figures drawn from them (test_figures.py)."""
import contextlib

import pytest
import torch

from kexue import experiments, runtime
from kexue.optim import experiments as ex

#: A tiny ``mnist-callbacks`` configuration: a few seconds on a CPU.
TINY_CALLBACKS = dict(n_train=512, n_val=256, n_test=256, hidden=32, batch_size=64, steps=120,
                      warmup=10, lr=0.1, lr_floor=0.0, ema_decay=0.9, eval_every=10,
                      monitor="val_acc", patience=3, seed=0)


@contextlib.contextmanager
def quick_and_quiet():
    """What tests/conftest.py gives every test (the quick profile, no progress bars), for the
    session's fixtures, which are made before it applies."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KEXUE_PROFILE", "quick")
        mp.setenv("KEXUE_PROGRESS", "0")
        yield


@pytest.fixture(scope="session")
def accumulation_comparison():
    """Post 6794's comparison, small, on 96 random images: ``((x, y), metrics, artifacts)``."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(96, 784, generator=g), torch.randint(0, 10, (96,), generator=g)
    with quick_and_quiet():
        metrics, artifacts = ex.compare_batch_sizes((x[:80], y[:80]), (x[80:], y[80:]), k=4,
                                                    micro_batch=2, epochs=1, lr=1e-3, hidden=8,
                                                    seed=0)
    return (x, y), metrics, artifacts


@pytest.fixture(scope="session")
def heun_comparison():
    """Heun against SGD at two step sizes, on 60 random images: ``((x, y), metrics, artifacts)``."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(60, 784, generator=g), torch.randint(0, 10, (60,), generator=g)
    with quick_and_quiet():
        metrics, artifacts = ex.compare_with_sgd((x[:40], y[:40]), (x[40:], y[40:]), lrs=[0.1, 0.4],
                                                 evaluations=8, batch=10, hidden=8, eval_every=4,
                                                 seed=0)
    return (x, y), metrics, artifacts


@pytest.fixture(scope="session")
def adaptive_record():
    """``adaptive-optimisers-2d`` with few steps and two learning rates per decade (one thread:
    the tensors are tiny, see kexue.runtime.cpu_threads)."""
    with quick_and_quiet(), runtime.cpu_threads(1):
        return experiments.run("adaptive-optimisers-2d", steps=[120, 120, 300], lrs_per_decade=2)


@pytest.fixture(scope="session")
def layerwise_record():
    """A tiny run of ``layerwise-lr-mnist``: 300 images, 30 steps."""
    with quick_and_quiet():
        return experiments.run("layerwise-lr-mnist", n_train=300, n_test=200, steps=30, every=10,
                               hidden=32)


@pytest.fixture
def tiny_callbacks_config():
    return dict(TINY_CALLBACKS)


@pytest.fixture(scope="session")
def callbacks_record():
    """``mnist-callbacks`` at :data:`TINY_CALLBACKS`."""
    with quick_and_quiet():
        return experiments.run("mnist-callbacks", "quick", **TINY_CALLBACKS)
