"""What colour training adds: the paper's recipes per dataset (a step schedule for ImageNet),
random crops and flips drawn from their own stream, streamed training batches, and test images
spread with --every."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.commands import Images, _indices
from bench.configs import PAPER_RECIPE, PAPER_RECIPES, TrainConfig
from bench.data import Dataset
from bench.identity import train_identity
from bench.image_folder import load_image_folder
from bench.train_images import TrainingImages, augment, augment_generator
from bench.training import learning_rate
from tests.synthetic import write_image_folder


def test_paper_recipes_per_dataset() -> None:
    assert PAPER_RECIPES["mnist"] is PAPER_RECIPE
    cifar, imagenet = PAPER_RECIPES["cifar10"], PAPER_RECIPES["imagenet"]
    assert (cifar.epochs, cifar.lr, cifar.lr_drop, cifar.weight_decay, cifar.augment) == (
        400, 0.01, 200, 5e-4, "crop-flip")
    assert (imagenet.epochs, imagenet.batch_size, imagenet.weight_decay) == (36, 256, 1e-4)
    rates = [learning_rate(imagenet, epoch, 0, 10) for epoch in range(36)]
    assert rates[:21] == [0.1] * 21
    assert rates[21:31] == pytest.approx([0.01] * 10) and rates[31:] == pytest.approx([0.001] * 5)
    # new fields enter a recipe's identity only when set: MNIST's recipes keep theirs
    assert "augment" not in train_identity(PAPER_RECIPE)
    assert "lr_steps" not in train_identity(PAPER_RECIPE)
    assert train_identity(imagenet)["lr_steps"] == [21, 31]


@pytest.mark.parametrize("fields", [
    {"schedule": "step"}, {"lr_steps": (5,)}, {"schedule": "step", "lr_steps": (5, 3)},
    {"schedule": "step", "lr_steps": (0,)}, {"augment": "rotate"},
])
def test_impossible_schedules_and_augmentations(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"lr_steps|augment"):
        TrainConfig(**fields)  # type: ignore[arg-type]


def test_flip_and_crop() -> None:
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    gen = torch.Generator().manual_seed(0)
    flipped = augment(x, "flip", gen)
    for i in range(2):  # each image is itself or its mirror image
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1))
    assert torch.equal(augment(x, "none", gen), x)
    many = torch.rand(64, 3, 8, 8)
    cropped = augment(many, "crop-flip", torch.Generator().manual_seed(1))
    assert cropped.shape == many.shape
    shifted = 0
    for i in range(64):  # a window of the zero-padded image, possibly mirrored
        padded = torch.nn.functional.pad(many[i], (4, 4, 4, 4))
        windows = [padded[:, r : r + 8, c : c + 8] for r in range(9) for c in range(9)]
        found = [w for w in windows if torch.equal(w, cropped[i]) or
                 torch.equal(w.flip(-1), cropped[i])]
        assert found
        shifted += not torch.equal(found[0], many[i])
    assert shifted > 50  # 80 of 81 windows move the image
    again = augment(many, "crop-flip", torch.Generator().manual_seed(1))
    assert torch.equal(cropped, again)
    assert not torch.equal(augment_generator(TrainConfig(), 0, torch.device("cpu")).get_state(),
                           augment_generator(TrainConfig(), 1, torch.device("cpu")).get_state())


def test_streamed_batches_equal_in_memory_ones(tmp_path: Path) -> None:
    write_image_folder(tmp_path, classes=3, train=3, val=1)
    train = load_image_folder(tmp_path, name="tiny", num_classes=3, resize=36, crop=32).train
    in_memory = Dataset("tiny", "train", np.asarray(train.images), train.labels)
    streamed, held = (TrainingImages(train, torch.device("cpu")),
                      TrainingImages(in_memory, torch.device("cpu")))
    assert streamed.streamed and not held.streamed
    idx = torch.tensor([7, 0, 4])
    for a, b in zip(streamed.batch(idx), held.batch(idx), strict=True):
        assert torch.equal(a, b)


def test_every_spreads_the_test_images() -> None:
    assert _indices(Images(0, 4, 3), 20) == [0, 3, 6, 9]
    assert _indices(Images(5, None, 5), 20) == [5, 10, 15]
    assert _indices(Images(2, 100, 1), 6) == [2, 3, 4, 5]
