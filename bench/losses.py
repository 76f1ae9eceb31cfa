"""Training losses for base classifiers of smoothed defenses."""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812

__all__ = ["smoothing_loss", "split_votes"]


def smoothing_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    copies: int,
    consistency: float = 0.0,
    entropy: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy over ``copies`` ablations of each image, plus consistency regularisation.

    With ``copies`` = m ablations of each of B images (rows ordered copy-major: row c * B + i is
    copy c of image i), the loss is that of Jeong & Shin (NeurIPS 2020, "Consistency
    Regularization for Certified Robustness of Smoothed Classifiers"):

        mean_i [ 1/m sum_c CE(f(x_ic), y_i) + consistency * 1/m sum_c KL(p_i || f(x_ic))
                 + entropy * H(p_i) ],   p_i = 1/m sum_c softmax(f(x_ic)).

    The KL term pulls the m ablations of an image towards one answer, which raises the smoothed
    classifier's top-class probability, the quantity the certificate grows with. With
    consistency = entropy = 0 it is plain cross-entropy.

    Args:
        logits: (m * B, classes).
        labels: (B,) class indices.
        copies: m >= 1.
        consistency: weight of the KL term (>= 0; needs m >= 2 to have an effect).
        entropy: weight of the entropy of the mean prediction (>= 0).
    """
    if copies < 1 or logits.shape[0] != copies * labels.shape[0]:
        raise ValueError(f"logits rows {logits.shape[0]} != copies {copies} x {labels.shape[0]}")
    loss = F.cross_entropy(logits, labels.repeat(copies))
    if consistency == 0.0 and entropy == 0.0:
        return loss
    log_p = logits.log_softmax(dim=1).view(copies, labels.shape[0], -1)
    mean_p = log_p.exp().mean(dim=0)
    log_mean = mean_p.clamp_min(1e-12).log()
    kl = ((mean_p * log_mean).sum(-1) - (mean_p.unsqueeze(0) * log_p).sum(-1).mean(0)).mean()
    ent = -(mean_p * log_mean).sum(-1).mean()
    return loss + consistency * kl + entropy * ent


def split_votes(logits: torch.Tensor,
                labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """A base classifier that votes V times per input (a partition defense's T submodels:
    logits (rows, V, classes)) as V times more rows (rows * V, classes), with the labels (B,)
    repeated for each vote, and V; (rows, classes) logits pass through with V = 1.

    Each vote's rows keep ``smoothing_loss``'s copy-major order, so ``smoothing_loss`` of the
    result is the mean of the V voters' own losses.
    """
    if logits.dim() == 2:
        return logits, labels, 1
    if logits.dim() != 3:
        raise ValueError(f"logits must be (rows, classes) or (rows, V, classes), got "
                         f"{tuple(logits.shape)}")
    votes = logits.shape[1]
    return logits.flatten(0, 1), labels.repeat_interleave(votes), votes
