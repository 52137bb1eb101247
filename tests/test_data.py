"""Datasets: checksums, shapes, subsets and errors, on the offline sources this machine has."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optim import data

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
    from optim import data

    for name, record in data.DATASETS.items():
        assert record.sources and all(label in data.SOURCES for label in record.sources), name
    with pytest.raises(ValueError, match="registered twice"):
        data.source("scikit-learn load_digits")(lambda: {})
