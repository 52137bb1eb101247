"""The shape of one training run's result: what :func:`optim.training.train` returns, what the
planner's placeholders imitate (:func:`optim.runner.placeholder`), what the store keeps and what
:func:`optim.runner.tidy` turns into tables."""

from __future__ import annotations

from typing import TypedDict


class Epoch(TypedDict, total=False):
    """One epoch's record. ``train_*`` and ``train_time`` are missing from epoch 0 (an initial
    evaluation), ``test_*`` (and ``val_*``) from epochs not evaluated (``RunSpec.eval_every``),
    the accuracies for an autoencoder; ``time`` is wall time since the start of training."""

    epoch: int
    train_loss: float
    train_acc: float
    train_time: float
    test_loss: float
    test_acc: float
    val_loss: float
    val_acc: float
    lr: float
    time: float


class Provenance(TypedDict, total=False):
    """Where and how a result was computed; ``fingerprint`` and ``cpu`` are added by the runner."""

    optim_version: str
    git_commit: str | None
    torch_version: str
    device: str
    device_type: str
    dataset_sha256: str
    threads: int
    precision: str
    memory_format: str
    native_bf16: bool
    bf16_by_fp32: bool  # bf16 autocast's heavy ops computed in fp32 and rounded (optim.bf16); since round 37
    python: str
    fingerprint: str | None
    cpu: str


class Result(TypedDict, total=False):
    """A run's result. ``steps`` maps "step", "epoch", "train_loss", "lr" and each probe's columns
    to lists over the logged steps; ``sizes`` counts the images used (train, validation, test).
    The runner adds ``key`` (the cache key) and ``status``; a placeholder has ``planned``."""

    spec: dict
    epochs: list[Epoch]
    steps: dict[str, list[float]]
    diverged: bool
    diverged_step: int | None
    wall_time: float
    sizes: dict[str, int]
    provenance: Provenance
    key: str
    status: str
    planned: bool
