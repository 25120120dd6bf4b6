"""The Fréchet distance of kexue.generative.frechet and its classifier features."""
import numpy as np
import pytest
import scipy.linalg
import torch

from kexue.generative import frechet


def _spd(p, seed):
    A = torch.randn(p, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return A @ A.T / p + 0.1 * torch.eye(p, dtype=torch.float64)


def _scipy_distance(m1, S1, m2, S2):
    """The textbook formula with scipy.linalg.sqrtm of the (non-symmetric) product S1 S2."""
    root = scipy.linalg.sqrtm(S1 @ S2)
    return float(np.sum((m1 - m2) ** 2) + np.trace(S1 + S2 - 2 * root.real))


def test_against_scipy_sqrtm():
    for p, seed in ((1, 0), (5, 1), (40, 2)):
        g = torch.Generator().manual_seed(seed + 10)
        m1, m2 = torch.randn(p, generator=g, dtype=torch.float64), torch.randn(p, generator=g, dtype=torch.float64)
        S1, S2 = _spd(p, seed), _spd(p, seed + 100)
        expected = _scipy_distance(*(t.numpy() for t in (m1, S1, m2, S2)))
        assert frechet.frechet_distance(m1, S1, m2, S2) == pytest.approx(expected, rel=1e-9)


def test_closed_form_w2_for_commuting_covariances():
    # S1 = Q D1 Q^T, S2 = Q D2 Q^T commute: W2^2 = |m1 - m2|^2 + |S1^(1/2) - S2^(1/2)|_F^2
    p = 6
    g = torch.Generator().manual_seed(3)
    Q, _ = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=torch.float64))
    d1, d2 = torch.rand(p, generator=g, dtype=torch.float64) + 0.1, torch.rand(p, generator=g, dtype=torch.float64) * 3
    m1, m2 = torch.randn(p, generator=g, dtype=torch.float64), torch.zeros(p, dtype=torch.float64)
    w2 = (m1 - m2).square().sum() + (d1.sqrt() - d2.sqrt()).square().sum()
    value = frechet.frechet_distance(m1, Q @ torch.diag(d1) @ Q.T, m2, Q @ torch.diag(d2) @ Q.T)
    assert value == pytest.approx(float(w2), rel=1e-10)
    # one dimension: (m1 - m2)^2 + (s1 - s2)^2
    one = frechet.frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]),
                                   torch.tensor([-2.0]), torch.tensor([[9.0]]))
    assert one == pytest.approx(9.0 + 1.0, rel=1e-12)


def test_zero_for_the_same_gaussian_and_moments_match_numpy():
    x = torch.randn(300, 7, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    m, S = frechet.gaussian_moments(x)
    assert torch.allclose(S, torch.from_numpy(np.cov(x.numpy().T)), rtol=1e-12)
    assert torch.allclose(m, x.mean(0))
    assert abs(frechet.frechet_distance(m, S, m, S)) < 1e-10
    # a singular covariance (rank 2 in 7-D) is allowed
    low = x[:, :2] @ torch.randn(2, 7, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    mL, SL = frechet.gaussian_moments(low)
    assert abs(frechet.frechet_distance(mL, SL, mL, SL)) < 1e-6


def test_features_are_the_last_hidden_layer():
    g = torch.Generator().manual_seed(6)
    x = torch.rand(200, 784, generator=g)
    y = torch.randint(0, 10, (200,), generator=g)
    model = frechet.feature_classifier(x, y, hidden=(32, 16), epochs=1, batch_size=50, seed=0)
    f = frechet.features(model, x, batch_size=64)
    assert f.shape == (200, 16) and bool((f >= 0).all())  # after the last ReLU
    with torch.no_grad():
        assert torch.allclose(model[-1](f), model(x), atol=1e-6)
    assert frechet.feature_distance(model, x, x) == pytest.approx(0.0, abs=1e-8)
    assert frechet.feature_distance(model, x[:100], x[100:]) > 0


def test_bad_input():
    m, S = torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="same length"):
        frechet.frechet_distance(m, S, torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="must be 3 x 3"):
        frechet.frechet_distance(m, torch.eye(2), m, S)
    with pytest.raises(ValueError, match="symmetric"):
        frechet.frechet_distance(m, torch.triu(torch.ones(3, 3)), m, S)
    with pytest.raises(ValueError, match="positive semi-definite"):
        frechet.frechet_distance(m, -S, m, S)
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet.gaussian_moments(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="finite"):
        frechet.gaussian_moments(torch.tensor([[0.0], [float("inf")]]))
    with pytest.raises(TypeError, match="ending in an nn.Linear"):
        frechet.features(torch.nn.ReLU(), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="int64"):
        frechet.feature_classifier(torch.rand(4, 784), torch.zeros(4))


def test_reference_network_is_trained_once_and_cached_by_its_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("KEXUE_DATA", str(tmp_path / "cache"))
    from kexue import data

    calls = []
    real = frechet.feature_classifier

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    images, labels = data.mnist("train")
    monkeypatch.setattr(data, "mnist", lambda split: (images[:2000], labels[:2000]))
    monkeypatch.setattr(frechet, "_LOADERS", {"mnist": data.mnist})
    monkeypatch.setattr(frechet, "feature_classifier", counting)
    first = frechet.reference_network("mnist")
    second = frechet.reference_network("mnist")
    assert len(calls) == 1 and calls[0]["seed"] == frechet.FEATURES["mnist"]["seed"]
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    cached = list((tmp_path / "cache" / "features").glob("*.pt"))
    assert [p.stem for p in cached] == [frechet.features_id("mnist")]
    # a damaged cache file is retrained, not trusted
    cached[0].write_bytes(b"not a checkpoint")
    frechet.reference_network("mnist")
    assert len(calls) == 2
    # the id follows the recipe
    monkeypatch.setitem(frechet.FEATURES, "mnist", {**frechet.FEATURES["mnist"], "epochs": 6})
    assert frechet.features_id("mnist") != cached[0].stem


def test_reference_distance_is_zero_on_one_set_and_unknown_sets_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("KEXUE_DATA", str(tmp_path / "cache"))
    from kexue import data

    images, labels = data.mnist("train")
    monkeypatch.setattr(frechet, "_LOADERS", {"mnist": lambda split: (images[:1000], labels[:1000])})
    x = data.as_float(images[:300])
    assert frechet.reference_distance(x, x) == pytest.approx(0.0, abs=1e-4)
    assert frechet.reference_distance(x[:150], x[150:]) > 0
    with pytest.raises(ValueError, match="dataset must be one of"):
        frechet.reference_distance(x, x, "cifar10")


def test_board_gathers_comparable_distances_and_refuses_mixed_features():
    def record(name, features, samples):
        return {"experiment": name, "metrics": {"frechet": {"features": features,
                                                            "samples": samples}}}

    records = [record("a", "mnist-1", {"x": 3.0, "y": 1.0}), {"experiment": "c", "metrics": {}},
               record("b", "mnist-1", {"z": 2.0})]
    rows = frechet.board(records)
    assert [(r["experiment"], r["model"], r["distance"]) for r in rows] == [
        ("a", "y", 1.0), ("b", "z", 2.0), ("a", "x", 3.0)]
    with pytest.raises(ValueError, match="different reference features.*mnist-2: b"):
        frechet.board([record("a", "mnist-1", {"x": 1.0}), record("b", "mnist-2", {"z": 2.0})])
