"""Small runs of Part III's experiments, shared by the tests of the drivers (test_experiments.py)
and of the figures drawn from their records (test_figures.py): each runs once per session."""
import pytest

import kexue as kx

#: a tiny ``vib-fashion``: 500 training images, three betas, two noise levels
VIB_TINY = dict(n_train=500, n_eval=300, widths=[784, 32], latent_dim=8, betas=[0.0, 1e-2, 1e-1],
                sigmas=[0.0, 0.5], epochs=4, batch_size=50)
#: a tiny clustering run on 400 MNIST images, two seeds, with every baseline and the post's recipe
CLUSTERING_TINY = dict(dataset="mnist", widths=[784, 32, 4], clusters=10, classifier_hidden=16,
                       lr=2e-3, batch_size=100, recon_weight=2.5, balance="sample", kmeans_epoch=1,
                       baselines=True, n_train=400, epochs=2, seeds=[0, 1], kmeans_inits=1,
                       post_recipe_run=True)


def _quick(run):
    """``run()`` in the quick profile with progress bars off (session fixtures run before the
    function-scoped autouse fixture that sets them for each test)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KEXUE_PROFILE", "quick")
        env.setenv("KEXUE_PROGRESS", "0")
        return run()


@pytest.fixture(scope="session")
def vib_record():
    return _quick(lambda: kx.experiments.run("vib-fashion", "quick", headline_beta=1e-1, **VIB_TINY))


@pytest.fixture(scope="session")
def geometry_record():
    return _quick(lambda: kx.experiments.run(
        "vae-geometry-mnist", n_train=600, n_test=200, hidden=[32], epochs=2, kl_weights=[0.5, 1.0],
        n_samples=300, n_evidence=2, grid_n=21))


@pytest.fixture(scope="session")
def clustering_run():
    """``(metrics, artifacts)`` of :func:`run_clustering` on :data:`CLUSTERING_TINY`."""
    from kexue.vae.experiments.clustering import run_clustering

    return _quick(lambda: run_clustering(dict(CLUSTERING_TINY)))


@pytest.fixture(scope="session")
def nvae_record():
    return _quick(lambda: kx.experiments.run(
        "nvae-mnist", "quick", n_train=128, n_test=6, steps=4, baseline_steps=4, k=3, log_every=2,
        channels=[4, 8, 8]))
