"""The generalization regime: where the AdamW, SWATS and ND-Adam chapters test their papers'
generalization claims, and the positive controls that show such claims can hold or fail there.

Those papers compare test error after training on CIFAR with a batch-normalized residual
network until the training set is fitted. The regime keeps what makes their question
answerable — a batch-normalized wide ResNet (WRN-10-2, the family ND-Adam used) that fits its
training set, test loss that turns up without regularization, a learning rate annealed to
zero (one cosine period) — on what this project can afford: 2,000 Fashion-MNIST training
images and 30 epochs (480 steps), read on all 10,000 test images.

No augmentation: with crop-and-flip the pilot's network was still far from fitting 2,000
images after 50 epochs (SGD's training loss 0.32, test loss lowest at the last epoch, weight
decay worth 0.2 points), so there was nothing for regularization to do and the generalization
question could not arise within the budget (see the regime chapter).
"""

from __future__ import annotations

from .spec import RunSpec

MODEL, DATASET = "wrn", "fashion-mnist"
MODEL_ARGS = dict(depth=10, widen=2)
N_TRAIN = 2000
EPOCHS = 30
BATCH_SIZE = 128
SELECTION_SEEDS = (100,)  # learning rates and decays are chosen on these, never on judged seeds
JUDGED_SEEDS = (0, 1, 2, 3, 4)


def spec(optimizer: str, hparams: dict, seed: int, *, epochs: int = EPOCHS, tag: str = "", **changes) -> RunSpec:
    """One run in the regime: ``optimizer`` with ``hparams``, the rate annealed to zero by one
    cosine period over ``epochs`` (SGDR with T_0 = epochs); ``changes`` override other fields
    (a SWATS probe, a model option)."""
    fields = dict(epochs=epochs, batch_size=BATCH_SIZE, n_train=N_TRAIN, n_test=None, augment="none",
                  schedule="sgdr", schedule_args=dict(t_0=epochs, t_mult=1), model_args=MODEL_ARGS,
                  precision="bf16", memory_format="channels_last", tag=tag)
    return RunSpec(MODEL, DATASET, optimizer, dict(hparams), seed=seed, **(fields | changes))


def specs(optimizer: str, hparams: dict, seeds=JUDGED_SEEDS, **kwargs) -> list[RunSpec]:
    """:func:`spec` for each of ``seeds``."""
    return [spec(optimizer, hparams, seed, **kwargs) for seed in seeds]
