import pytest
import torch

import kexue as kx
from kexue import runtime

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_profile_reads_the_environment(monkeypatch):
    monkeypatch.setenv("KEXUE_PROFILE", "full")
    assert runtime.profile() == "full"
    monkeypatch.setenv("KEXUE_PROFILE", " Quick ")
    assert runtime.profile() == "quick"


def test_profile_default_follows_cuda(monkeypatch):
    monkeypatch.delenv("KEXUE_PROFILE")
    assert runtime.profile() == ("full" if torch.cuda.is_available() else "quick")


def test_bad_profile_is_named(monkeypatch):
    monkeypatch.setenv("KEXUE_PROFILE", "fast")
    with pytest.raises(ValueError, match="KEXUE_PROFILE must be one of.*'fast'"):
        runtime.profile()


def test_device_default_and_override(monkeypatch):
    monkeypatch.delenv("KEXUE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert kx.device().type == expected
    assert runtime.device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            runtime.device("cuda")
        monkeypatch.setenv("KEXUE_DEVICE", "cuda:0")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            runtime.device()


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "meta"])
def test_an_unknown_device_is_named_with_the_ones_there_are(monkeypatch, name):
    with pytest.raises(ValueError, match=f"unknown device '{name}': use cuda, cuda:N .*, mps or cpu"):
        runtime.device(name)
    monkeypatch.setenv("KEXUE_DEVICE", name)
    with pytest.raises(ValueError, match=f"unknown device '{name}' \\(from KEXUE_DEVICE\\)"):
        runtime.device()


def test_seed_everything_repeats_draws():
    g1 = kx.seed_everything(3)
    a = (torch.rand(3), torch.rand(2, generator=g1))
    g2 = kx.seed_everything(3)
    b = (torch.rand(3), torch.rand(2, generator=g2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        kx.seed_everything(bad)


def test_provenance_names_device_versions_and_commit():
    p = kx.provenance()
    assert set(p) >= {"device", "device_name", "torch", "kexue", "python", "git_commit", "date"}
    assert p["torch"] == torch.__version__ and p["kexue"] == kx.__version__
    if (ROOT / ".git").exists():
        assert len(p["git_commit"]) == 40 and isinstance(p["git_dirty"], bool)
    assert set(p) >= {"git_dirty"}


def test_float64_work_skips_mps(monkeypatch):
    monkeypatch.delenv("KEXUE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert runtime.device().type == "mps"
    assert runtime.device(float64=True).type == "cpu"


def test_checkout_is_this_repository():
    assert runtime.checkout() == ROOT


def test_cpu_threads_sets_the_count_on_the_cpu_only_and_restores_it():
    before = torch.get_num_threads()
    other = before + 1  # a count that differs from the current one
    with runtime.cpu_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with runtime.cpu_threads(other, "cpu"):
        assert torch.get_num_threads() == other
    with runtime.cpu_threads(other, torch.device("meta")):  # not the CPU: left alone
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"), runtime.cpu_threads(other):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n must be a positive int, got 0"), runtime.cpu_threads(0):
        pass
