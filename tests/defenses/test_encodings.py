from __future__ import annotations

import torch

from defenses.encodings import Encoding, encode


def test_multichannel_null_is_zero_zero_for_every_channel() -> None:
    x = torch.rand(2, 3, 4, 4)
    keep = torch.zeros(2, 4, 4, dtype=torch.bool)
    keep[:, 1, 2] = True
    out = encode(x, keep, Encoding.MULTICHANNEL)
    assert out.shape == (2, 6, 4, 4)
    # kept position: (x, 1 - x) in channel order [R, G, B, 1-R, 1-G, 1-B]
    assert torch.allclose(out[:, :3, 1, 2], x[:, :, 1, 2])
    assert torch.allclose(out[:, 3:, 1, 2], 1 - x[:, :, 1, 2])
    # everything else is NULL = (0, 0) in all channels
    out[:, :, 1, 2] = 0
    assert bool((out == 0).all())


def test_mean_fill() -> None:
    x = torch.ones(1, 1, 2, 2)
    keep = torch.tensor([[[True, False], [False, False]]])
    out = encode(x, keep, Encoding.MEAN_FILL, fill=0.1307)
    assert out.shape == (1, 1, 2, 2)
    assert torch.allclose(out[0, 0], torch.tensor([[1.0, 0.1307], [0.1307, 0.1307]]))


def test_channel_counts() -> None:
    assert Encoding.MULTICHANNEL.channels(1) == 2
    assert Encoding.MEAN_FILL.channels(3) == 3
