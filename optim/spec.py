"""``RunSpec``: a frozen, hashable description of one training run."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from .data import DATASETS, TOKEN_STREAMS
from .layout import DEVICES
from .models import FIXED_SHAPES, FLAT_INPUT, INPUT_SHAPES, LANGUAGE_MODELS, MODELS
from .probes import PROBES
from .registry import available, check_hyperparameters
from .schedules import SCHEDULES

AUGMENTATIONS = ("none", "crop-flip", "crop")
# "bf16": the forward pass under bf16 autocast (CPU or CUDA); weights, gradients and
# optimizer state stay fp32. Fast on CPUs with AMX / AVX512-BF16 and on recent GPUs.
PRECISIONS = ("fp32", "bf16")
MEMORY_FORMATS = ("contiguous", "channels_last")
# Evaluation mistakes of published benchmarks, reproduced on request to show their effect:
# the model is left in eval mode (dropout and batch-norm updates off) after the first
# evaluation, or the test images get the training augmentation.
EVALUATION_BUGS = ("eval-mode-after-first-epoch", "augmented-test-set")
# Fields added after results were stored: left out of the key at their default value.
_ADDED_LATER = {"initial_evaluation": False, "eval_every": 1, "bptt": 20, "clip_norm": 0.0, "shuffle_buffer": 0,
                "reshuffle": True}


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers and lists as tuples, so specs hash, compare and store."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    return value


def _freeze(mapping: Any) -> tuple:
    if mapping is None:
        return ()
    items = mapping.items() if isinstance(mapping, dict) else mapping
    return tuple(sorted((str(k), _plain(v)) for k, v in items))


@dataclass(frozen=True)
class RunSpec:
    """One run: a model trained on a dataset by an optimizer; every field is part of the key.

    ``hparams``/``schedule_args``/``model_args`` accept dicts and are stored as sorted tuples.
    ``n_train``/``n_test`` take stratified subsets (None: the whole split). ``validation``
    holds out that fraction of the training set (stratified) and reports ``val_*`` metrics.
    ``probes`` names :mod:`optim.probes` to log; ``evaluation_bugs`` (see EVALUATION_BUGS)
    re-creates a benchmark mistake and is empty for every honest run. ``precision`` and
    ``memory_format`` (see PRECISIONS, MEMORY_FORMATS) choose how the arithmetic runs; they
    are part of the key because they change the numbers. ``initial_evaluation`` also records
    the test (and validation) metrics of the untrained model as epoch 0, as DeepOBS does.
    ``eval_every`` evaluates on the test (and validation) images every that many epochs and
    after the last one; the epochs between record training metrics only. Evaluation does not
    touch the training (no random numbers, batch-norm statistics frozen), so a run's numbers at
    the epochs both evaluate are the same for any ``eval_every``; the test set is most of a
    small training set's cost. ``shuffle_buffer``: 0 draws each epoch's order as a uniform
    permutation; a positive size shuffles through a buffer of that many examples instead, as
    TensorFlow's ``Dataset.shuffle`` and so DeepOBS do (``training.buffered_order``).
    ``reshuffle``: True draws a new order every epoch; False draws the first epoch's order and
    replays it every epoch, as TensorFlow 1 does when a graph-level seed is set and the dataset's
    iterator is re-initialized each epoch (DeepOBS's TensorFlow runner does both).

    A language model (``models.LANGUAGE_MODELS``) trains on a token stream (``data.TOKEN_STREAMS``)
    and on nothing else: ``n_train``/``n_test`` then count tokens (the first ones of a split),
    ``batch_size`` is the number of parallel streams, ``bptt`` the steps of truncated
    backpropagation per update and ``clip_norm`` the gradient-norm clip (0: none); the
    validation split is the corpus's own and always evaluated. Both fields are for language models only.
    """

    model: str
    dataset: str
    optimizer: str
    hparams: Any = ()
    epochs: int = 1
    batch_size: int = 128
    seed: int = 0
    schedule: str | None = None
    schedule_args: Any = ()
    model_args: Any = ()
    augment: str = "none"
    n_train: int | None = None
    n_test: int | None = None
    validation: float = 0.0
    log_every: int = 10
    device: str = "auto"
    precision: str = "fp32"
    memory_format: str = "contiguous"
    probes: Any = ()
    evaluation_bugs: Any = ()
    initial_evaluation: bool = False
    eval_every: int = 1
    shuffle_buffer: int = 0
    reshuffle: bool = True
    bptt: int = 20
    clip_norm: float = 0.0
    tag: str = ""

    def __post_init__(self):
        for name in ("probes", "evaluation_bugs"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        for name in ("schedule_args", "model_args"):
            object.__setattr__(self, name, _freeze(getattr(self, name)))
        self.validate()
        hparams = self.hparams
        if not isinstance(hparams, dict):
            hparams = dict(hparams or ())
        object.__setattr__(self, "hparams", _freeze(check_hyperparameters(self.optimizer, hparams)))

    def validate(self) -> None:
        def bad(name, value, expected):
            raise ValueError(f"RunSpec {name}={value!r} is invalid: expected {expected}")

        if self.model not in MODELS:
            bad("model", self.model, f"one of {', '.join(MODELS)}")
        if self.dataset not in DATASETS:
            bad("dataset", self.dataset, f"one of {', '.join(DATASETS)}")
        stream = self.dataset in TOKEN_STREAMS
        if stream and self.model not in LANGUAGE_MODELS:
            bad("model", self.model, f"one of {', '.join(LANGUAGE_MODELS)} for {self.dataset} (a token stream)")
        if self.model in LANGUAGE_MODELS and not stream:
            bad("dataset", self.dataset, f"one of {', '.join(TOKEN_STREAMS)} for the language model {self.model!r}")
        if stream:
            self._validate_language_model(bad)
        elif self.bptt != 20 or self.clip_norm != 0.0:
            field = "bptt" if self.bptt != 20 else "clip_norm"
            bad(field, getattr(self, field), f"its default ({_ADDED_LATER[field]}): it applies to language models only")
        elif DATASETS[self.dataset].shape not in INPUT_SHAPES and self.model not in FLAT_INPUT:
            bad("model", self.model, f"one of {', '.join(FLAT_INPUT)} for {self.dataset} (feature vectors, not images)")
        shapes = FIXED_SHAPES.get(self.model)
        if shapes and DATASETS[self.dataset].shape not in shapes:
            bad("dataset", self.dataset, f"a dataset of {' or '.join(map(str, shapes))} images for model {self.model!r}")
        if self.optimizer not in available():
            bad("optimizer", self.optimizer, f"one of {', '.join(available())}")
        if self.schedule is not None and self.schedule not in SCHEDULES:
            bad("schedule", self.schedule, f"None or one of {', '.join(SCHEDULES)}")
        if self.augment not in AUGMENTATIONS:
            bad("augment", self.augment, f"one of {', '.join(AUGMENTATIONS)}")
        if self.device not in DEVICES:
            bad("device", self.device, f"one of {', '.join(DEVICES)}")
        for name, valid in (("probes", tuple(PROBES)), ("evaluation_bugs", EVALUATION_BUGS)):
            for value in getattr(self, name):
                if value not in valid:
                    bad(name, value, f"a tuple of {', '.join(valid)}")
        if not isinstance(self.shuffle_buffer, int) or isinstance(self.shuffle_buffer, bool) or self.shuffle_buffer < 0:
            bad("shuffle_buffer", self.shuffle_buffer, "0 (a uniform permutation) or a positive buffer size")
        for name in ("epochs", "batch_size", "log_every", "eval_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                bad(name, value, "a positive integer")
        for name in ("n_train", "n_test"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 10):
                bad(name, value, "None or an integer >= 10")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            bad("seed", self.seed, "a non-negative integer")
        if isinstance(self.validation, bool) or not isinstance(self.validation, (int, float)) \
                or not 0.0 <= self.validation < 0.5:
            bad("validation", self.validation, "a fraction in [0, 0.5)")
        if self.precision not in PRECISIONS:
            bad("precision", self.precision, f"one of {', '.join(PRECISIONS)}")
        if self.memory_format not in MEMORY_FORMATS:
            bad("memory_format", self.memory_format, f"one of {', '.join(MEMORY_FORMATS)}")
        for name in ("initial_evaluation", "reshuffle"):
            if not isinstance(getattr(self, name), bool):
                bad(name, getattr(self, name), "True or False")
        if not isinstance(self.tag, str):
            bad("tag", self.tag, "a string")

    def _validate_language_model(self, bad) -> None:
        if not isinstance(self.bptt, int) or isinstance(self.bptt, bool) or self.bptt < 1:
            bad("bptt", self.bptt, "a positive integer")
        if isinstance(self.clip_norm, bool) or not isinstance(self.clip_norm, (int, float)) or not self.clip_norm >= 0:
            bad("clip_norm", self.clip_norm, "a number >= 0 (0: no clipping)")
        for name, plain in (("validation", 0.0), ("augment", "none"), ("memory_format", "contiguous"),
                            ("probes", ()), ("evaluation_bugs", ()), ("shuffle_buffer", 0), ("reshuffle", True)):
            if getattr(self, name) != plain:
                bad(name, getattr(self, name), f"{plain!r} for a language model")

    @classmethod
    def from_stored(cls, record: dict) -> RunSpec:
        """The spec of a stored ``to_dict()`` record, without re-validating it: its optimizer
        may have been registered only in the process that recorded it (a notebook cell)."""
        spec = object.__new__(cls)
        for field in dataclasses.fields(cls):
            value = record.get(field.name, field.default)
            if field.name in ("hparams", "schedule_args", "model_args"):
                value = _freeze(value)
            elif field.name in ("probes", "evaluation_bugs"):
                value = (value,) if isinstance(value, str) else tuple(value)
            object.__setattr__(spec, field.name, value)
        return spec

    @property
    def hyperparameters(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.hparams}

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        for name in ("hparams", "schedule_args", "model_args"):
            out[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in getattr(self, name)}
        return out

    def key(self) -> str:
        """Cache key: what the run computes. Left out: ``device`` ('auto' resolves per
        machine) and ``tag`` (a display label). The code that computed a stored result is
        checked separately (its fingerprint, :mod:`optim.runner`)."""
        payload = self.to_dict()
        payload.pop("device")
        payload.pop("tag")
        for name, default in _ADDED_LATER.items():  # absent from older keys, which stay valid
            if payload[name] == default:
                payload.pop(name)
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def evaluated(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (1 to ``epochs``) ends with an evaluation (``eval_every``)."""
        return epoch % self.eval_every == 0 or epoch == self.epochs

    def replace(self, **changes) -> RunSpec:
        return dataclasses.replace(self, **changes)


def method_specs(methods: dict[str, tuple], seeds, model: str, dataset: str, *, grid: dict[str, list] | None = None,
                 **fields) -> list[RunSpec]:
    """The runs of a chapter's comparison: one :class:`RunSpec` per method × grid point × seed,
    tagged with the method's label.

    ``methods`` maps a label to ``(optimizer, hyperparameters)`` or ``(optimizer,
    hyperparameters, fields)``: a method's own fields (a schedule, probes, model options)
    override the shared ``fields``, and its ``model_args`` are merged into the shared ones key
    by key. ``grid`` maps hyperparameter names to values crossed with every method (e.g. a
    learning-rate grid); a grid value overrides the method's own.
    """
    names = list(grid or {})
    points = list(itertools.product(*(grid[n] for n in names))) if names else [()]
    specs = []
    for label, (optimizer, hyperparameters, *own) in methods.items():
        own = dict(own[0]) if own else {}
        merged = dict(fields) | own
        if "model_args" in own and "model_args" in fields:
            merged["model_args"] = dict(fields["model_args"]) | dict(own["model_args"])
        for point in points:
            hp = dict(hyperparameters) | dict(zip(names, point))
            specs += [RunSpec(model, dataset, optimizer, hp, seed=seed, tag=label, **merged) for seed in seeds]
    return specs
