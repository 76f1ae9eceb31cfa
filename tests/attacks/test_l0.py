import pytest
import torch

from attacks.l0 import pixel_l0


def test_l0_counts_pixel_positions_not_channels() -> None:
    x = torch.zeros(2, 3, 4, 4)
    x_adv = x.clone()
    x_adv[0, :2, 0, 0] = 1.0  # one position, two channels
    x_adv[0, 2, 1, 1] = 0.5  # another position, one channel
    x_adv[1, :, 3, 3] = 1.0  # one position, all three channels
    assert pixel_l0(x, x_adv).tolist() == [2, 1]


def test_l0_of_identical_images_is_zero() -> None:
    x = torch.rand(3, 1, 5, 5)
    assert pixel_l0(x, x.clone()).tolist() == [0, 0, 0]


def test_l0_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        pixel_l0(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
