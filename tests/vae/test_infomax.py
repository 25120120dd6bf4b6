"""Tests of kexue.vae.infomax: Deep InfoMax's terms, its training, and the feature scores."""
import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

import kexue as kx
from kexue.vae import infomax as im

SMALL = dict(channels=[4, 8], hidden=32, latent_dim=8, critic_hidden=16, alpha=0.5, beta=1.5,
             gamma=0.01, prior_delay=100, lr=2e-3, epochs=8, batch_size=32, seed=0)


@pytest.fixture(scope="module")
def mnist():
    return kx.classifier.mnist_subset(640, 200, 0, "cpu")


def test_terms_are_js_bounds_of_all_pairings_in_the_batch(mnist):
    x = mnist[0][:16]
    model = im.DeepInfoMax(**{k: SMALL[k] for k in ("channels", "hidden", "latent_dim",
                                                    "critic_hidden")}, seed=0)
    noise = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        terms = im.infomax_terms(model, x, noise)
        c, mean, log_var = model.encoder(x)
        z = mean + (0.5 * log_var).exp() * noise
        # the separable critics pair by pair, by hand: T(a, z) = <phi(a), psi(z)>
        phi = [model.global_map(c[i:i + 1])[0] for i in range(16)]
        psi = [model.global_code(z[j]) for j in range(16)]
        t = torch.stack([torch.stack([phi[i] @ psi[j] for j in range(16)]) for i in range(16)])
        pos = [t[i, i] for i in range(16)]
        neg = [t[i, j] for i in range(16) for j in range(16) if i != j]
        by_hand = (sum(math.log(torch.sigmoid(v)) for v in pos) / 16
                   + sum(math.log(1 - torch.sigmoid(v)) for v in neg) / (16 * 15))
        # one local score: position (3, 4) of image 2 against the code of image 5
        local = model.local_map(c[2:3])[0, :, 3, 4] @ model.local_code(z[5])
        _, t_local = model.scores(c, z)
        kl = 0.5 * (mean ** 2 + log_var.exp() - log_var - 1).sum(1).mean()
    assert float(terms["global_js"]) == pytest.approx(by_hand, abs=1e-5)
    assert float(t_local[2, 5, 3, 4]) == pytest.approx(float(local), abs=1e-5)
    assert float(terms["prior_kl"]) == pytest.approx(float(kl), rel=1e-5)
    assert -math.log(4) - 1 < float(terms["local_js"]) < 0
    assert c.shape == (16, 8, 7, 7) and t_local.shape == (16, 16, 7, 7)


def test_pair_bound_is_tight_for_a_critic_that_knows_the_pairs():
    # certain of every pair: the JS bound reaches its ceiling 0 and DV reaches log-ratio - 0
    scores = 30 * torch.eye(8)[:, :, None] - 15
    assert float(im.pair_bound(scores)) == pytest.approx(0.0, abs=1e-6)
    assert float(im.pair_bound(scores, kx.vae.mutual_information.dv_bound)) == pytest.approx(30.0)
    blind = torch.zeros(8, 8)  # no information: the floor -log 4
    assert float(im.pair_bound(blind)) == pytest.approx(-math.log(4))


def test_prior_warmup_schedule():
    loss = im.InfoMaxLoss()
    warm = im.PriorWarmup(loss, 10)
    scales = []
    for step in (0, 10, 15, 20, 30):
        warm._update(step)
        scales.append(loss.prior_scale)
    assert scales == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_training_raises_the_global_bound(mnist):
    config = {**SMALL, "channels": [16, 32], "hidden": 128, "latent_dim": 32, "critic_hidden": 64,
              "batch_size": 64, "epochs": 12, "prior_delay": 60}
    model, rows = im.train_infomax(config, mnist[0])
    assert rows[-1]["global_js"] > rows[0]["global_js"] + 0.05  # the critic found a signal
    assert rows[-1]["global_js"] > -math.log(4)


def test_knn_accuracy_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    train, test = torch.randn(300, 5, generator=g), torch.randn(80, 5, generator=g)
    y_train, y_test = torch.randint(0, 4, (300,), generator=g), torch.randint(0, 4, (80,), generator=g)
    for metric in ("cosine", "euclidean"):
        for k in (1, 5, 10):
            sk = KNeighborsClassifier(k, metric=metric, algorithm="brute").fit(train.numpy(),
                                                                               y_train.numpy())
            expected = float(np.mean(sk.predict(test.numpy()) == y_test.numpy()))
            assert im.knn_accuracy(train, y_train, test, y_test, k=k, metric=metric) == \
                pytest.approx(expected), (metric, k)


def test_nearest_neighbours_finds_itself():
    bank = torch.randn(50, 6)
    assert torch.equal(im.nearest_neighbours(bank, bank, 1)[:, 0], torch.arange(50))
    assert torch.equal(im.nearest_neighbours(bank, bank, 1, metric="euclidean")[:, 0],
                       torch.arange(50))


def test_retrieve_gives_the_images_of_the_nearest_bank_rows():
    bank, images = torch.randn(50, 6), torch.rand(50, 784)
    found = im.retrieve(bank[:3], bank, images, 2)
    assert found.shape == (3, 2, 784) and torch.equal(found[:, 0], images[:3])
    with pytest.raises(ValueError, match="bank_images has 49 rows but bank_features 50"):
        im.retrieve(bank[:3], bank, images[:49], 2)


def test_linear_probe_separates_separable_features():
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (600,), generator=g)
    f = torch.randn(600, 4, generator=g) + 4 * torch.nn.functional.one_hot(y, 4).float()
    ours = im.linear_probe(f[:400], y[:400], f[400:], y[400:], epochs=30, batch_size=50)
    sk = LogisticRegression(max_iter=1000).fit(f[:400].numpy(), y[:400].numpy())
    expected = sk.score(f[400:].numpy(), y[400:].numpy())
    assert expected > 0.9
    assert ours == pytest.approx(expected, abs=0.03)  # 6 of the 200 test points
    noise = torch.randn(600, 4, generator=g)
    assert im.linear_probe(noise[:400], y[:400], noise[400:], y[400:], epochs=5) < 0.6


def test_bad_input(mnist):
    with pytest.raises(ValueError, match="x must have 784 columns"):
        im.InfoMaxEncoder()(torch.zeros(2, 10))
    with pytest.raises(KeyError, match="config lacks"):
        im.train_infomax({"channels": [4, 8]}, mnist[0])
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        im.train_infomax({**SMALL, "batch_size": 1}, mnist[0])
    with pytest.raises(ValueError, match="exceeds the bank"):
        im.nearest_neighbours(torch.zeros(2, 3), torch.zeros(4, 3), 5)
    with pytest.raises(ValueError, match="metric must be one of"):
        im.nearest_neighbours(torch.zeros(2, 3), torch.zeros(4, 3), 1, metric="l1")
    with pytest.raises(ValueError, match="same width"):
        im.knn_accuracy(torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64), torch.zeros(2, 2),
                        torch.zeros(2, dtype=torch.int64))
    with pytest.raises(TypeError, match="int64 tensor of class labels"):
        im.knn_accuracy(torch.zeros(4, 3), torch.zeros(4), torch.zeros(2, 3),
                        torch.zeros(2, dtype=torch.int64))
    with pytest.raises(TypeError, match="loss must be an InfoMaxLoss"):
        im.PriorWarmup(None, 3)
    with pytest.raises(ValueError, match="scores must pair n >= 2 images"):
        im.pair_bound(torch.zeros(4, 3))
