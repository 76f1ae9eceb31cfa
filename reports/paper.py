"""The paper's published numbers (Levine & Feizi 2020), keyed by (dataset, table) and defense, so
a row is only ever printed beside the number published for the same dataset."""

from __future__ import annotations

from typing import Any

__all__ = ["PAPER", "paper_value"]

_TABLE1_MNIST: dict[int, tuple[float, float, int | None]] = {
    # k: (accuracy %, abstained %, median certified robustness; None = N/A), full MNIST test set
    5: (32.32, 5.65, None), 10: (74.90, 5.08, 0), 15: (86.09, 2.82, 0), 20: (90.29, 1.81, 3),
    25: (93.05, 1.02, 5), 30: (94.68, 0.77, 7), 35: (95.40, 0.66, 7), 40: (96.27, 0.52, 8),
    45: (96.72, 0.45, 8), 50: (97.16, 0.32, 7), 55: (97.41, 0.34, 7), 60: (97.78, 0.18, 7),
    65: (98.05, 0.15, 6), 70: (98.18, 0.20, 6), 75: (98.28, 0.20, 6), 80: (98.37, 0.12, 5),
    85: (98.57, 0.12, 5), 90: (98.58, 0.16, 5), 95: (98.73, 0.11, 5), 100: (98.75, 0.16, 4),
}

PAPER: dict[tuple[str, str], dict[str, tuple[Any, ...]]] = {
    ("mnist", "table1"): {f"ablation-k{k}": v for k, v in _TABLE1_MNIST.items()},
    # (clean accuracy %, median Pointwise L0, best of 10 restarts); the CNN row is Schott et al.'s
    # (quoted by the paper), the ablation row used N = 10,000 fresh samples per query on 275
    # test images
    ("mnist", "table2"): {"cnn": (99.1, 9.0), "ablation-k45": (96.7, 31.0)},
    # median certified robustness of the best Lee et al. model ("lee": any kappa) and of ablation
    ("mnist", "table7"): {"lee": (4,), "ablation-k45": (8,)},
    # k = 45: accuracy %, abstained %, median certified robustness per NULL encoding
    ("mnist", "table8"): {"ablation-k45": (96.72, 0.45, 8), "ablation-mean-k45": (96.27, 0.43, 7)},
}


def paper_value(dataset: str, table: str, defense: str) -> tuple[Any, ...] | None:
    """The paper's numbers for ``defense`` in ``table`` ("table1", "table2", "table7", "table8")
    on ``dataset``, or None when it published none."""
    return PAPER.get((dataset, table), {}).get(defense)
